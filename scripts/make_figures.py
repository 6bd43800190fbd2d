#!/usr/bin/env python
"""Draw the paper's figures (Figs. 1-8; default: 1, 3 and 6) from run files, as PNG and PDF."""

from aggregation_cli import run_aggregation_cli

from agem.io.write_errors import exits_on_os_error
from agem.report.figures import DEFAULT_FIGURES, FIGURE_NAMES, make_figures


@exits_on_os_error  # a full disk: one line naming the file, no traceback
def main() -> None:
    run_aggregation_cli(make_figures, __doc__, "results/default/figures", only=FIGURE_NAMES, default_only=DEFAULT_FIGURES)


if __name__ == "__main__":
    main()
