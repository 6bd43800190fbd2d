#!/usr/bin/env python
"""How far results move between CPU code paths (published/determinism/, agem.pipeline.determinism).

  determinism.py measure --work DIR   train VAN and A-GEM on both code paths, publish the runs (5 min 17 s on 2 cores, here)
  determinism.py docs [--check]       write (or check) the table in docs/reproduction.md from the published runs
"""

import argparse
import subprocess
import sys
from pathlib import Path

from agem.pipeline.determinism import DOCS, measure, refill_docs
from agem.runs.bundle import BundleError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    measured = commands.add_parser("measure", help="train both code paths in fresh folders under --work and publish their runs")
    measured.add_argument("--work", type=Path, required=True, help="an empty or missing folder for the runs")
    docs = commands.add_parser("docs", help=f"fill the determinism block of {DOCS.name} from the published runs")
    docs.add_argument("--check", action="store_true", help="only check that the block is up to date (exit 1 if not)")
    args = parser.parse_args(argv)
    if args.command == "measure":
        if args.work.exists() and any(args.work.iterdir()):
            sys.exit(f"error: {args.work} is not empty: give a fresh folder, so that every run is trained here")
        try:
            print(f"published the runs and the measurement in {measure(args.work)}")
        except subprocess.CalledProcessError as exc:
            sys.exit(f"error: a pipeline run failed (exit status {exc.returncode}; its output is above): nothing was published")
        args = parser.parse_args(["docs"])
    try:
        changed = refill_docs(write=not args.check)
    except (BundleError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    if args.check and changed:
        sys.exit(f"error: {DOCS} drifted from the published runs: run scripts/determinism.py docs")
    print(f"{DOCS}: {'rewritten' if changed else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
