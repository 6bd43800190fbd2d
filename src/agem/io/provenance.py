"""Where results came from: the code's git commit and the checksums of files."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable
from pathlib import Path

HASH_ALGORITHMS = ("md5", "sha256")
PACKAGE_FOLDER = Path(__file__).resolve().parent


def git_commit(folder: Path = PACKAGE_FOLDER) -> str:
    """The commit checked out at ``folder`` (this package's by default), or "unknown"."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "unknown"


def file_digests(path: str | Path, algorithms: Iterable[str] = HASH_ALGORITHMS, chunk: int = 1 << 20) -> dict[str, str]:
    """Digests of a file in one pass (reading a 13 GB archive twice would double the wait)."""
    hashes = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as f:
        while block := f.read(chunk):
            for h in hashes.values():
                h.update(block)
    return {name: h.hexdigest() for name, h in hashes.items()}
