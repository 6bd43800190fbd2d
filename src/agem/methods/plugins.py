"""Methods defined outside this repository: the user's own modules and installed packages.

Two ways in, both registering with the same ``@register("name")`` as the built-in methods:

- the config's top-level ``method_modules: [my_lab.methods]``: importable module names (installed,
  or on ``PYTHONPATH``), imported by :func:`load_method_modules` before the config's methods and
  hyper-parameters are checked;
- the entry-point group ``agem_repro.methods`` of installed packages
  (``[project.entry-points."agem_repro.methods"] my_method = "my_package.methods"``), loaded at
  the same time, so an installed method is usable by name with no config key.

A module that fails to import or registers no method stops the workflow before any job. A
training job imports the module that defined its method again (:func:`method_module`, carried in
its settings), so jobs on a cluster node find the method without the Snakefile's process.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence
from importlib.metadata import entry_points

from agem.methods.base import METHODS

ENTRY_POINT_GROUP = "agem_repro.methods"
BUILT_IN_PACKAGE = "agem.methods"

# method name -> the module whose import registered it (a config entry or an entry point's module)
METHOD_SOURCES: dict[str, str] = {}


class MethodModuleError(ValueError):
    """A method module could not be imported or registered no method; the message says which and how to fix it."""


def _import_registering(module: str, origin: str) -> list[str]:
    """Import ``module``; return the names of the methods it registered (raise if none)."""
    before = set(METHODS)
    try:
        importlib.import_module(module)
    except Exception as exc:  # any failure of user code is reported the same way, before any job
        where = traceback.extract_tb(exc.__traceback__)[-1]
        raise MethodModuleError(
            f"{origin}: cannot import {module!r}: {type(exc).__name__}: {exc} (at {where.filename}:{where.lineno}); "
            "install its package (pip install -e <folder>) or put its folder on PYTHONPATH, and check that it imports "
            f"with: python -c 'import {module}'"
        ) from exc
    registered = sorted(set(METHODS) - before) or sorted(
        # imported earlier (a second load, or imported by another module): find its methods by origin
        name for name, source in METHOD_SOURCES.items() if source == module
    ) or sorted(
        name for name, cls in METHODS.items() if cls.__module__ == module or cls.__module__.startswith(module + ".")
    )
    if not registered:
        raise MethodModuleError(
            f"{origin}: module {module!r} registers no method; decorate a ContinualMethod subclass with "
            "@register(\"name\") from agem.methods (src/agem/methods/README.md)"
        )
    for name in registered:
        METHOD_SOURCES.setdefault(name, module)
    return registered


def load_method_modules(modules: Sequence[str] = ()) -> dict[str, list[str]]:
    """Import the config's ``method_modules`` and every installed ``agem_repro.methods`` entry
    point; return {module: the method names it registered}. Raises :class:`MethodModuleError`."""
    loaded = {}
    for module in modules:
        loaded[module] = _import_registering(module, "method_modules")
    for point in entry_points(group=ENTRY_POINT_GROUP):
        module = point.value.split(":")[0].strip()
        origin = f"entry point {point.name!r} of group {ENTRY_POINT_GROUP!r}" + (
            f" (package {point.dist.name})" if point.dist is not None else "")
        loaded.setdefault(module, _import_registering(module, origin))
    return loaded


def method_module(method: str) -> str | None:
    """The module a training job must import to find ``method``; None for a built-in method."""
    module = METHOD_SOURCES.get(method) or METHODS[method].__module__
    return None if module == BUILT_IN_PACKAGE or module.startswith(BUILT_IN_PACKAGE + ".") else module


def import_method_module(module: str | None) -> None:
    """In a training job: import the module that registers the job's method (see :func:`method_module`)."""
    if module is not None and module not in sys.modules:
        _import_registering(module, "training job settings 'method_module'")
