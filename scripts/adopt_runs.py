#!/usr/bin/env python
"""Move every run file of the layout before run identities (results/runs/{dataset}/{method}/seed{seed}.h5)
to the path of the identity it records (results/runs/{dataset}/{method}/{variant}/seed{seed}.h5).

The workflow adopts such a file by itself when it is the run its config asks for; this script is
the fix it names when the file was trained with other settings. Files whose settings cannot be
read, or whose new path is taken, are left in place and listed (exit status 1)."""

import argparse
import sys

from agem.pipeline.paths import RESULTS
from agem.pipeline.run_plan import adopt_all


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=RESULTS, help=f"the results folder (default: {RESULTS})")
    args = parser.parse_args()
    moved, left = adopt_all(args.results)
    print(f"moved {len(moved)} run file(s)")
    for line in left:
        print(f"left in place: {line}", file=sys.stderr)
    sys.exit(1 if left else 0)


if __name__ == "__main__":
    main()
