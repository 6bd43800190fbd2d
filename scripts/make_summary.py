#!/usr/bin/env python
"""Write the one-page reproduction summary (results/{experiment}/tables/reproduction_summary.{md,csv}) from the
paper-vs-ours tables: verdict counts per table and which of the paper's claims hold."""

import argparse

from agem.io.write_errors import exits_on_os_error
from agem.report.claims import write_summary


@exits_on_os_error  # a full disk: one line naming the file, no traceback
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="*", default=[], metavar="TABLE.csv", help="comparison tables (table{2..7}_*.csv)")
    parser.add_argument("--paper", help="the paper's published values (default: config/paper_results.yaml)")
    parser.add_argument("--out-dir", default="results/default/tables")
    args = parser.parse_args()
    for path in write_summary(args.tables, args.out_dir, args.paper):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
