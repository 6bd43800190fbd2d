"""agem-repro: a faithful, fast reproduction of A-GEM (Chaudhry et al., ICLR 2019)."""

__version__ = "0.1.0"
