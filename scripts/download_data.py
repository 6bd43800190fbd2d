#!/usr/bin/env python
"""Provide one raw dataset in resources/raw/{dataset}/, downloaded or placed by hand, verified (rule download)."""

import argparse
import json
import sys

from agem.data.datasets import RAW_DATASETS
from agem.data.datasets.raw import RawDataError, prepare_raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True, choices=sorted(RAW_DATASETS), help="raw dataset name")
    parser.add_argument("--folder", required=True, help="placement folder, resources/raw/{dataset}")
    parser.add_argument("--overrides", default="{}", help="JSON {file name: {url, checksum}} (config 'downloads.<dataset>')")
    parser.add_argument("--no-download", action="store_true", help="only use and verify files already in the folder")
    args = parser.parse_args()
    try:
        dataset = RAW_DATASETS[args.dataset].with_overrides(json.loads(args.overrides))
        record = prepare_raw(dataset, args.folder, download_missing=not args.no_download)
    except (RawDataError, ValueError, OSError) as exc:
        sys.exit(f"error: {exc}")
    for name, entry in record["files"].items():
        note = "" if entry["checksum"] else " (no checksum configured: recorded, not checked)"
        print(f"{args.folder}/{name}: md5 {entry['md5']}, sha256 {entry['sha256']}{note}")


if __name__ == "__main__":
    main()
