#!/usr/bin/env python
"""Write results/figures/README.md: every figure with its caption (agem.gallery)."""

from agem.gallery import main

if __name__ == "__main__":
    main()
