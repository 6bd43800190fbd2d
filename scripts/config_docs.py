#!/usr/bin/env python
"""Regenerate the key tables of config/README.md from workflow/schemas/config.schema.yaml
(the region between `<!-- BEGIN GENERATED KEYS -->` and `<!-- END GENERATED KEYS -->`).
With --check, change nothing and exit 1 if the README is out of date."""

import argparse
import sys

from agem.pipeline.config_docs import README, SCHEMA, check_readme, write_readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schema", default=str(SCHEMA), help="the config schema (default: %(default)s)")
    parser.add_argument("--readme", default=str(README), help="the README to update (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="only check that the README is up to date")
    args = parser.parse_args(argv)
    if args.check:
        problem = check_readme(args.schema, args.readme)
        if problem:
            print(problem, file=sys.stderr)
            return 1
        print(f"{args.readme} is up to date")
        return 0
    print(f"{args.readme}: {'updated' if write_readme(args.schema, args.readme) else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
