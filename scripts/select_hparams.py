#!/usr/bin/env python
"""Pick the grid point with the best average accuracy on the CV tasks (rule cv_select)."""

import argparse
import json
import sys

from agem.training.cv import select, write_selection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--points", required=True, help="JSON: grid point id -> hyper-parameters")
    parser.add_argument("--runs", nargs="+", required=True, help="CV run files, results/cv/{dataset}/{method}/{point}/seed{seed}.h5")
    parser.add_argument("--out", required=True, help="the selection, results/cv/{dataset}/{method}.yaml")
    args = parser.parse_args()
    points = json.loads(args.points)
    runs = {point: [path for path in args.runs if f"/{point}/seed" in path] for point in points}
    try:
        selection = select(points, runs)
    except ValueError as exc:
        sys.exit(f"error: {args.dataset}/{args.method}: {exc}")
    write_selection(args.out, args.dataset, args.method, selection)
    print(f"{args.dataset}/{args.method}: selected {selection['selected_point']} {selection['selected']}")
    for candidate in selection["candidates"]:
        print(f"  {candidate['point']:>24s}  A = {candidate['A_mean']:.4f}")


if __name__ == "__main__":
    main()
