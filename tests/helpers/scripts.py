"""The command-line scripts (scripts/*.py) loaded as modules, to call their ``main`` in-process."""

from __future__ import annotations

import importlib.util
import runpy
import sys
from types import ModuleType

from helpers.workflow import REPO


def load_script(name: str) -> ModuleType:
    """scripts/<name>.py as a module (its folder on the path, as when it runs as a script)."""
    folder = str(REPO / "scripts")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(f"script_{name}", REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(name: str, *args: str) -> None:
    """Run scripts/<name>.py as ``python scripts/<name>.py ARGS`` would, in this process."""
    folder = str(REPO / "scripts")
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv, sys.path = [f"{name}.py", *args], [folder, *sys.path]
    try:
        runpy.run_path(str(REPO / "scripts" / f"{name}.py"), run_name="__main__")
    finally:
        sys.argv, sys.path = saved_argv, saved_path
