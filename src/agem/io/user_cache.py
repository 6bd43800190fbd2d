"""The user's cache folder for agem-repro: ``$XDG_CACHE_HOME/agem-repro`` (``~/.cache`` by default).

It holds what belongs to the user rather than to a checkout: the checkpoint key
(agem.training.checkpoint) and the digits' split counts (agem.data.datasets.sizes)."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "agem-repro"
