"""The command line shared by make_tables.py and make_figures.py (imported from this folder)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from agem.runs.runfile import RunFileError

Writer = Callable[..., list[Path]]


def run_aggregation_cli(write: Writer, description: str, default_out_dir: str,
                        only: Sequence[str] = (), default_only: Sequence[str] | None = None,
                        paper: bool = False, argv: Sequence[str] | None = None) -> list[Path]:
    """The command line shared by scripts/make_tables.py and scripts/make_figures.py:
    ``--runs RUN.h5 ... [--datasets ...] [--methods ...] [--out-dir DIR] [--only NAME ...]
    [--paper YAML]``; calls ``write(runs, out_dir, datasets, methods[, only=...][, paper=...])``
    and prints what it wrote. A bad run file (RunFileError) ends it with one line naming the file
    and the fix, exit status 1, before anything is written.

    ``--runs`` may be empty: an artefact whose datasets have no runs is still drawn, with gaps.
    ``only`` lists the artefacts the writer can select (default: ``default_only``, else the first);
    ``paper`` adds ``--paper``, the file of the paper's published values.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", nargs="*", default=[], metavar="RUN.h5", help="run files")
    parser.add_argument("--datasets", nargs="+", help="order of the datasets (default: as found)")
    parser.add_argument("--methods", nargs="+", help="order (and colours) of the methods (default: as found)")
    parser.add_argument("--out-dir", default=default_out_dir, help=f"output folder (default: {default_out_dir})")
    if only:
        default_only = list(default_only or only[:1])
        parser.add_argument("--only", nargs="+", choices=only, default=default_only,
                            help=f"artefacts to write (default: {' '.join(default_only)})")
    if paper:
        parser.add_argument("--paper", help="the paper's published values (default: config/paper_results.yaml)")
    args = parser.parse_args(argv)
    extra = {"only": args.only} if only else {}
    if paper and args.paper:
        extra["paper"] = args.paper
    try:
        written = write(args.runs, args.out_dir, args.datasets, args.methods, **extra)
    except RunFileError as exc:  # a bad run file: one line naming it and the fix; nothing was written
        raise SystemExit(f"error: {exc}") from None
    for path in written:
        print(f"wrote {path}")
    return written
