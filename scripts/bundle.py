#!/usr/bin/env python
"""Results bundle: `bundle.py export` packs the run files with a manifest (checksums, config,
versions) into one .tar.gz; `bundle.py import BUNDLE` verifies one and unpacks it, so that the
tables and figures can be rebuilt without training (see agem.bundle)."""

import sys

from agem.bundle import main

if __name__ == "__main__":
    sys.exit(main())
