#!/usr/bin/env python
"""Write the one-page reproduction summary (results/tables/reproduction_summary.{md,csv}) from the
paper-vs-ours tables: verdict counts per table and which of the paper's claims hold."""

from agem.claims import main

if __name__ == "__main__":
    main()
