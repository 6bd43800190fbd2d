"""Killing a run after a task's checkpoint, comparing two runs' results, and hostile checkpoint files."""

from __future__ import annotations

import io
import json
import os
import shlex
from pathlib import Path

import numpy as np
import torch

from agem.training.checkpoint import MAGIC
from agem.training.settings import TrainSettings

SETTINGS = TrainSettings(curve_every=7)


class Killed(Exception):
    """Stands for the job being killed right after a task's checkpoint was written."""


def kill_after(task_line: str):
    def log(line: str) -> None:
        if task_line in line:
            raise Killed(line)

    return log


def assert_same_results(first, second):
    for name in ("acc_final", "acc_lca", "acc_memory", "acc_curve", "curve_step", "violations"):
        a, b = getattr(first, name), getattr(second, name)
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_array_equal(a, b, err_msg=name)
    assert first.memory_bytes == second.memory_bytes


# --- hostile checkpoint files ------------------------------------------------------------------
class RunsCode:
    """An object whose unpickling runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(self.marker)}",)


def code_pickle(marker: Path) -> bytes:
    """A torch.save file that runs code when loaded without ``weights_only``: what the old
    checkpoint reader (``torch.load(weights_only=False)``) executed."""
    buffer = io.BytesIO()
    torch.save({"format": 1, "state": RunsCode(marker)}, buffer)
    return buffer.getvalue()


def split_checkpoint(path: Path) -> tuple[dict, bytes]:
    """(header, payload) of a checkpoint file, parsed here by its documented layout."""
    data = path.read_bytes()
    assert data.startswith(MAGIC)
    length = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 4], "big")
    start = len(MAGIC) + 4
    return json.loads(data[start : start + length]), data[start + length :]


def join_checkpoint(header: dict, payload: bytes) -> bytes:
    """A file with ``header`` (its payload length set to the payload's) before ``payload``."""
    raw = json.dumps({**header, "payload_bytes": len(payload)}).encode()
    return MAGIC + len(raw).to_bytes(4, "big") + raw + payload


def edited_payload(payload: bytes, change) -> bytes:
    """``payload`` read back, changed by ``change(saved)``, and saved again."""
    saved = torch.load(io.BytesIO(payload), weights_only=True)
    change(saved)
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    return buffer.getvalue()


def set_accuracy(saved) -> None:
    """The edit of the report: acc_final[0, 0] = 0.123 and 12,347 training seconds."""
    saved["run"]["acc_final"][0, 0] = 0.123
    saved["run"]["train_seconds"] = 12347.0
