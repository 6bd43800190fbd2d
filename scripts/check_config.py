#!/usr/bin/env python
"""Check config files as `snakemake --configfile FILE…` would use them, without running Snakemake.

A YAML syntax error is reported as FILE:LINE:COLUMN (Snakemake itself says only "Config file is
not valid JSON or YAML"); then the schema and the workflow's config check run on the config
merged over config/config.yaml. Exit status 0: the config is usable; 1: the message says why.
"""

import argparse
import sys

from agem.pipeline.config import ConfigError
from agem.pipeline.config_file import check_config_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configfiles", nargs="*", help="config files, merged in order over config/config.yaml")
    parser.add_argument("--cluster", action="store_true", help="jobs run on a cluster's nodes: do not check the device here")
    args = parser.parse_args()
    try:
        config = check_config_files(args.configfiles, jobs_run_here=not args.cluster)
    except ConfigError as exc:
        sys.exit(f"error: {exc}")
    print(f"ok: {', '.join(args.configfiles) or 'config/config.yaml'}: datasets {', '.join(config['datasets'])}")


if __name__ == "__main__":
    main()
