"""Choosing the training device, and one GPU per job when several jobs share a machine.

Snakemake's ``--resources gpu=G`` lets at most G training jobs (each declaring ``gpu=1``) run at
once, but it does not tell a job *which* GPU to use, nor set ``CUDA_VISIBLE_DEVICES``. Each job
therefore claims a free GPU itself: it takes an exclusive, non-blocking ``flock`` on one lock
file per GPU and keeps it until the process exits (the kernel releases it even after a crash or
a kill, so a lock can never go stale). On SLURM, the scheduler already restricts a job to its
own GPUs through ``CUDA_VISIBLE_DEVICES``; the same code then simply claims the first visible one.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from pathlib import Path
from typing import IO

import torch

LOCK_DIR_VARIABLE = "AGEM_GPU_LOCK_DIR"
_held_locks: list[IO] = []  # open lock files of this process: closing one releases its GPU


def lock_dir() -> Path:
    return Path(os.environ.get(LOCK_DIR_VARIABLE, Path(tempfile.gettempdir()) / "agem-gpu-locks"))


def try_claim_gpu(index: int, folder: Path | None = None) -> bool:
    """Take GPU ``index``'s lock for the lifetime of this process; False if another holds it."""
    folder = folder or lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / f"gpu{index}.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return False
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    _held_locks.append(handle)
    return True


def claim_free_gpu(n_gpus: int, timeout_seconds: float = 3600.0, poll_seconds: float = 2.0) -> int:
    """Index of a GPU no other job of this machine holds; waits while all are taken."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        for index in range(n_gpus):
            if try_claim_gpu(index):
                return index
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"all {n_gpus} GPUs stayed claimed by other training jobs for {timeout_seconds:.0f}s "
                f"(lock files in {lock_dir()}); run snakemake with --resources gpu={n_gpus} or fewer"
            )
        time.sleep(poll_seconds)


def resolve_device(name: str) -> torch.device:
    """``auto``: a free GPU if CUDA is available, else the CPU; ``cuda``: a free GPU or an error."""
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        if name == "auto":
            return torch.device("cpu")
        raise RuntimeError(f"device {name!r} was requested but CUDA is not available; use device: auto or cpu")
    if name in ("auto", "cuda"):
        return torch.device("cuda", claim_free_gpu(torch.cuda.device_count()))
    return torch.device(name)  # an explicit cuda:N is the user's choice


def check_device_available(name: str) -> None:
    """Raise RuntimeError if ``device`` names a GPU this machine does not have (the config check)."""
    if name in ("auto", "cpu"):
        return
    if not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} was requested but CUDA is not available here; use device: auto or cpu")
    index = int(name.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise RuntimeError(f"device {name!r}: this machine has {torch.cuda.device_count()} GPU(s), cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
