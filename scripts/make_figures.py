#!/usr/bin/env python
"""Draw the paper's figures (Figs. 1-8; default: 1, 3 and 6) from run files, as PNG and PDF."""

from agem.figures import DEFAULT_FIGURES, FIGURE_NAMES, make_figures
from agem.tables import run_aggregation_cli


def main() -> None:
    run_aggregation_cli(make_figures, __doc__, "results/figures", only=FIGURE_NAMES, default_only=DEFAULT_FIGURES)


if __name__ == "__main__":
    main()
