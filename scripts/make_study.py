#!/usr/bin/env python
"""The task-length study's table, figures and claims (rule task_length_study)."""

import argparse
import json
import sys

from agem.report.frames import load_runs
from agem.report.studies import write_task_length
from agem.runs.runfile import RunFileError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", required=True, help="benchmark -> steps per task, as JSON (config key task_length)")
    parser.add_argument("--runs", nargs="*", default=[], metavar="RUN.h5", help="the study's run files (missing ones are gaps)")
    parser.add_argument("--methods", nargs="+", help="order of the methods")
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args()
    try:
        records = load_runs(args.runs)  # validated, duplicates refused (agem.report.frames)
        written = write_task_length(records, json.loads(args.steps), args.out_dir, args.methods)
    except (RunFileError, OSError) as exc:
        sys.exit(f"error: {exc}")
    for path in written:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
