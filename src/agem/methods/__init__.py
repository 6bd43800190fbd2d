"""Continual-learning methods, one per module, registered by name.

Every module in this package is imported here, so dropping a new file that uses
``@register("name")`` makes the method available to the config and the training loop.
"""

import importlib
import pkgutil

from agem.methods.base import (
    METHODS,
    Batch,
    ContinualMethod,
    Hyperparameters,
    RehearsalMethod,
    make_hyperparameters,
    register,
)
from agem.methods.hparam_checks import hparam
from agem.methods.memory import EpisodicMemory

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

# What a method defined outside this package needs (src/agem/methods/README.md).
__all__ = ["METHODS", "Batch", "ContinualMethod", "EpisodicMemory", "Hyperparameters", "RehearsalMethod", "hparam",
           "make_hyperparameters", "register"]
