#!/usr/bin/env python
"""Build one benchmark's HDF5 task stream for one seed (rule build_stream)."""

import argparse
import json
import sys
import time

from agem.data.datasets import build_stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True, help="benchmark name (a key of config 'benchmarks')")
    parser.add_argument("--spec", required=True, help="the benchmark's config entry, as JSON")
    parser.add_argument("--seed", type=int, required=True, help="stream seed (permutations, class order)")
    parser.add_argument("--out", required=True, help="output .h5 path")
    parser.add_argument("--images", default=None, help="the source's image file (rule build_images), for file-based sources")
    args = parser.parse_args()
    started = time.perf_counter()
    try:
        build_stream(args.dataset, json.loads(args.spec), args.seed, args.out, images=args.images)
    except (ValueError, OSError) as exc:
        sys.exit(f"error: building stream {args.dataset!r} (seed {args.seed}) failed: {exc}")
    print(f"wrote {args.out} in {time.perf_counter() - started:.2f}s")


if __name__ == "__main__":
    main()
