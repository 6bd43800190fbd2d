"""A failed write (a full disk, a read-only folder) as one line naming the file, for the scripts.

Without it a full disk under ``results/{experiment}/tables/`` or ``figures/`` ends an aggregate
job with a traceback in its log. :func:`exits_on_os_error` wraps a script's ``main``: an
``OSError`` becomes ``error: no space left on device while writing <file>: …`` (or the
file and the system's reason), exit status 1. :func:`agem.io.atomic.atomic_output` names the
target file on the error and removes its temporary file, so no partial output is left.
"""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable
from typing import TypeVar

Main = TypeVar("Main", bound=Callable[..., object])


def os_error_line(exc: OSError) -> str:
    """One line for ``exc``: the file it concerns, the problem, for a full disk the fix."""
    cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else None
    where = exc.filename or (cause.filename if cause is not None else None) or "an output file"
    if exc.errno == errno.ENOSPC:
        return f"error: no space left on device while writing {where}: free space or move results/ (snakemake --directory) and rerun"
    return f"error: {where}: {exc.strerror or exc}"


def exits_on_os_error(main: Main) -> Main:
    """``main`` ending on an OSError with :func:`os_error_line` and exit status 1, no traceback."""

    @functools.wraps(main)
    def guarded(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except OSError as exc:
            raise SystemExit(os_error_line(exc)) from None

    return guarded  # type: ignore[return-value]
