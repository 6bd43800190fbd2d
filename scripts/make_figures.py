#!/usr/bin/env python
"""Draw the paper's figures (Fig. 1, Fig. 3 top and bottom, Fig. 6) from run files, PNG and PDF."""

from agem.figures import make_figures
from agem.tables import run_aggregation_cli


def main() -> None:
    run_aggregation_cli(make_figures, __doc__, "results/figures")


if __name__ == "__main__":
    main()
