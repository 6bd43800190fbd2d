#!/usr/bin/env python
"""Decode and preprocess one source's images once, for every seed's stream to link to (rule build_images)."""

import argparse
import json
import sys
import time

from agem.data.datasets import build_images
from agem.data.datasets.raw import RawDataError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", required=True, help="source name (agem.data.datasets.SOURCES)")
    parser.add_argument("--options", default="{}", help="the benchmark's source_options, as JSON")
    parser.add_argument("--raw-dir", default=None, help="folder of the raw files (default resources/raw/{dataset})")
    parser.add_argument("--out", required=True, help="output image file (.h5)")
    args = parser.parse_args()
    started = time.perf_counter()
    try:
        build_images(args.source, json.loads(args.options), args.out, args.raw_dir)
    except (RawDataError, ValueError, OSError) as exc:
        sys.exit(f"error: building the images of source {args.source!r} failed: {exc}")
    print(f"wrote {args.out} in {time.perf_counter() - started:.2f}s")


if __name__ == "__main__":
    main()
