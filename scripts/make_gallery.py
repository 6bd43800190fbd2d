#!/usr/bin/env python
"""Write results/{experiment}/figures/README.md: every figure with its caption (agem.report.gallery)."""

import argparse
from pathlib import Path

from agem.io.atomic import write_text
from agem.io.write_errors import exits_on_os_error
from agem.report.gallery import gallery


@exits_on_os_error  # a full disk: one line naming the file, no traceback
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", nargs="*", default=[], help="figure files (PNG; PDFs are linked beside them)")
    parser.add_argument("--not-run", nargs="*", default=[], metavar="STEM", help="figures without data (listed as not run)")
    parser.add_argument("--captions", required=True, help="folder of the captions (workflow/report)")
    parser.add_argument("--out", required=True, help="the Markdown file to write")
    args = parser.parse_args()
    print(f"wrote {write_text(Path(args.out), gallery(args.figures, args.captions, args.not_run))}")


if __name__ == "__main__":
    main()
