"""Atomic file output: write to a temporary file beside the target, rename on success."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path; on success it replaces ``path``, on error it is removed.

    The temporary file lives in the target's folder so that the final rename is atomic on
    POSIX file systems: readers see either the old file or the complete new one, never a
    partial write.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates the file private (0600); results are meant to be shared like any output.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        # A system error writing the temporary file names no file, or the temporary one: name the
        # target (only errno errors: a message-only OSError, like h5py's, would print as "[Errno None]").
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename in (None, str(tmp)):
            exc.filename = str(target)
        raise


def write_text(path: Path, text: str) -> Path:
    """Write a text output atomically (readers never see half a table)."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def no_space_error(path: Path | str, nbytes: int, cause: OSError) -> OSError:
    return OSError(errno.ENOSPC, f"no space left on device writing {path} ({nbytes:,} bytes); free space on that file system "
                                 f"(or move results/ with snakemake --directory) and rerun; nothing was written ({cause.strerror})")


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` atomically; a full disk is an OSError naming ``path`` and no file is left behind."""
    try:
        with atomic_output(path) as tmp, open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())  # a full disk shows here, not later at close
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise no_space_error(path, len(data), exc) from exc
        raise
    return Path(path)


@contextlib.contextmanager
def atomic_hdf5(path: str | Path) -> Iterator:
    """An HDF5 file built in memory and written atomically on success.

    HDF5 writing straight to a full disk fails inside the library, in its clean-up (h5py
    segfaulted and left its temporary file); building the file in memory turns a full disk into
    the plain OSError of :func:`write_bytes`. For small files only (streams that link to their
    images, run files); the large image files check free space first (:func:`require_free_space`).
    """
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        yield f
    write_bytes(path, buffer.getvalue())


def require_free_space(path: str | Path, nbytes: int) -> None:
    """Raise the no-space OSError before writing ``nbytes`` to ``path`` if its file system lacks them."""
    folder = Path(path).parent
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < nbytes:
        raise no_space_error(path, nbytes, OSError(errno.ENOSPC, f"{free:,} bytes free"))
