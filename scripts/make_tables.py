#!/usr/bin/env python
"""Aggregate run files into the result tables (main.csv/.md/.tex and per-seed/per-task CSVs)."""

from agem.tables import run_aggregation_cli, write_tables


def main() -> None:
    run_aggregation_cli(write_tables, __doc__, "results/tables")


if __name__ == "__main__":
    main()
