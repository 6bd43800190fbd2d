#!/usr/bin/env python
"""Aggregate run files into result tables: the main table (main.csv/.md/.tex and the per-seed,
per-task and per-β CSVs) and the paper's Tables 2–7 side by side with the published values."""

from collections.abc import Sequence
from pathlib import Path

from aggregation_cli import run_aggregation_cli

from agem.io.atomic import write_text
from agem.io.write_errors import exits_on_os_error
from agem.report.frames import ablation_frame, load_runs
from agem.report.paper import PAPER_RESULTS
from agem.report.paper_tables import PAPER_TABLES, write_paper_tables
from agem.report.tables import write_main_tables

MAIN = "main"
ABLATION = "ablation"  # results/{experiment}/tables/ablation_epochs.csv: the runs behind Figs. 7-8


def write(run_paths: Sequence[str], out_dir: str, datasets: Sequence[str] | None, methods: Sequence[str] | None,
          only: Sequence[str] = (MAIN,), paper: str | Path = PAPER_RESULTS) -> list[Path]:
    records = load_runs(run_paths)
    written = write_main_tables(records, out_dir, datasets, methods) if MAIN in only else []
    if ABLATION in only:
        written.append(write_text(Path(out_dir) / "ablation_epochs.csv", ablation_frame(records).to_csv(index=False)))
    tables = [name for name in only if name not in (MAIN, ABLATION)]
    return written + write_paper_tables(records, out_dir, tables, datasets, methods, paper)


@exits_on_os_error  # a full disk: one line naming the file, no traceback
def main() -> None:
    run_aggregation_cli(write, __doc__, "results/default/tables", only=(MAIN, *PAPER_TABLES, ABLATION), paper=True)


if __name__ == "__main__":
    main()
