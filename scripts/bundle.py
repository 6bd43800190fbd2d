#!/usr/bin/env python
"""Results bundle: `bundle.py export` packs the run files with a manifest (checksums, the config
the runs were made with, versions) into one .tar.gz; `bundle.py import BUNDLE` verifies one and
unpacks it, so that the tables and figures can be rebuilt without training (see agem.runs.bundle)."""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from agem.runs.bundle import (
    DEFAULT_BUNDLE,
    REBUILD_COMMAND,
    BundleError,
    export_runs,
    find_runs,
    import_bundle,
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="pack run files and their manifest into one archive")
    export.add_argument("--out", default=DEFAULT_BUNDLE, help=f"archive to write (default: {DEFAULT_BUNDLE})")
    export.add_argument("--runs", nargs="+", help="run files (default: every .h5 under results/runs and results/ablation/runs)")
    export.add_argument("--experiment", help="the result set's name, recorded in its config: the rebuild writes results/EXPERIMENT/ (default: default)")
    imports = commands.add_parser("import", help="verify a bundle and unpack it into a project folder")
    imports.add_argument("bundle", help="the .tar.gz archive")
    imports.add_argument("--into", default=".", help="project folder (default: the current one)")
    imports.add_argument("--overwrite", action="store_true", help="replace run files and an earlier import's config and manifest that differ from the bundle's")
    imports.add_argument("--allow-method-modules", nargs="+", default=[], metavar="MODULE",
                         help="keep these method_modules of the bundle's config (the rebuild imports them: only modules you trust and have installed)")
    return parser.parse_args(argv)


def experiment_argument(name: str | None) -> str:
    # Imported here: agem.pipeline imports torch, which import never needs.
    from agem.pipeline.experiment import DEFAULT_EXPERIMENT, check_experiment_name

    try:
        check_experiment_name(name or DEFAULT_EXPERIMENT)
    except ValueError as exc:  # ConfigError
        raise BundleError(f"--experiment {exc}") from exc
    return name or DEFAULT_EXPERIMENT


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "export":
            out = export_runs(args.out, args.runs or find_runs(), experiment_argument(args.experiment))
            print(f"wrote {out}")
        else:
            imported = import_bundle(args.bundle, args.into, args.overwrite, args.allow_method_modules)
            change_folder = f"cd {args.into} && " if Path(args.into).resolve() != Path.cwd() else ""
            print(f"imported {len(imported)} run files into {Path(args.into) / 'results'}; rebuild every table and "
                  f"figure without training with:\n  {change_folder}{REBUILD_COMMAND}")
    except (BundleError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
