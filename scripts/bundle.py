#!/usr/bin/env python
"""Results bundle: `bundle.py export` packs the run files with a manifest (checksums, config,
versions) into one .tar.gz; `bundle.py import BUNDLE` verifies one and unpacks it, so that the
tables and figures can be rebuilt without training (see agem.runs.bundle)."""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from agem.runs.bundle import (
    DEFAULT_BUNDLE,
    REBUILD_COMMAND,
    BundleError,
    export_bundle,
    find_runs,
    import_bundle,
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="pack run files and their manifest into one archive")
    export.add_argument("--out", default=DEFAULT_BUNDLE, help=f"archive to write (default: {DEFAULT_BUNDLE})")
    export.add_argument("--runs", nargs="+", help="run files (default: every .h5 under results/runs and results/ablation/runs)")
    export.add_argument("--configfile", default="config/config.yaml", help="the config the runs were made with (default: config/config.yaml)")
    imports = commands.add_parser("import", help="verify a bundle and unpack it into a project folder")
    imports.add_argument("bundle", help="the .tar.gz archive")
    imports.add_argument("--into", default=".", help="project folder (default: the current one)")
    imports.add_argument("--overwrite", action="store_true", help="replace run files that differ from the bundle's")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "export":
            config = yaml.safe_load(Path(args.configfile).read_text(encoding="utf-8"))
            out = export_bundle(args.out, args.runs or find_runs(), config)
            print(f"wrote {out}")
        else:
            imported = import_bundle(args.bundle, args.into, args.overwrite)
            change_folder = f"cd {args.into} && " if Path(args.into).resolve() != Path.cwd() else ""
            print(f"imported {len(imported)} run files into {Path(args.into) / 'results'}; rebuild every table and "
                  f"figure without training with:\n  {change_folder}{REBUILD_COMMAND}")
    except (BundleError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
