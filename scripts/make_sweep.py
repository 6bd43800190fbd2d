#!/usr/bin/env python
"""A sweep's table and figure: A_T and F_T against the swept hyper-parameters (rule sweep)."""

import argparse
import json
import sys

from agem.report.frames import load_runs
from agem.report.studies import write_sweep
from agem.runs.runfile import RunFileError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True, help="the sweep's name (config key sweeps.<name>)")
    parser.add_argument("--grid", required=True, help="the sweep's grid as JSON: name -> values, in the config's order")
    parser.add_argument("--runs", nargs="+", required=True, metavar="RUN.h5", help="the sweep's run files")
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args()
    try:
        records = load_runs(args.runs)  # validated, duplicates refused (agem.report.frames)
        written = write_sweep(records, args.name, json.loads(args.grid), args.out_dir)
    except (RunFileError, OSError) as exc:
        sys.exit(f"error: {exc}")
    for path in written:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
