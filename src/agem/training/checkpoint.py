"""Checkpoints at task boundaries: a run's state and method, saved so that a rerun resumes exactly.

A checkpoint is resumed only by the run whose inputs it fingerprints (method, hyper-parameters,
network, memory, settings, seed and stream); anything else starts afresh.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from agem.data.streams import TaskStream
from agem.io.atomic import write_bytes
from agem.methods import ContinualMethod
from agem.training.settings import TrainSettings


@dataclass
class RunState:
    """What a run has produced so far; with the method, all it needs to go on after a task."""

    acc_final: np.ndarray
    acc_lca: np.ndarray
    acc_memory: np.ndarray
    curve: list = field(default_factory=list)
    curve_step: list = field(default_factory=list)
    step: int = 0
    next_phase: int = 0
    train_seconds: float = 0.0


CHECKPOINT_FORMAT = 1


def run_fingerprint(stream: TaskStream, method_name: str, hparams: dict, network: dict, memory_per_task: int, settings: TrainSettings, seed: int) -> str:
    """Identifies a run's inputs, so that a checkpoint is only resumed by the same run."""
    relevant = {k: v for k, v in asdict(settings).items() if k not in ("progress_seconds", "eval_batch_size")}
    attrs = stream.file.attrs
    identity = [method_name, hparams, network, memory_per_task, relevant, seed,
                str(attrs.get("source_sha256", "")), int(attrs["seed"]), str(attrs.get("params", ""))]
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def save_checkpoint(path: Path, fingerprint: str, state: RunState, method: ContinualMethod, shuffle_generator: torch.Generator) -> None:
    # Serialised in memory, then written: a full disk is a plain OSError naming the file
    # (torch.save onto a full disk failed with "enforce fail at inline_container.cc").
    buffer = io.BytesIO()
    torch.save(
        {"format": CHECKPOINT_FORMAT, "fingerprint": fingerprint, "state": state, "method": method,
         "shuffle_generator": shuffle_generator.get_state()},
        buffer,
    )
    write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path, fingerprint: str, stream: TaskStream, log: Callable[[str], None]) -> tuple[RunState, ContinualMethod, torch.Tensor] | None:
    """The checkpoint's (state, method, shuffle-generator state), or None to start afresh."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location=stream.device, weights_only=False)
    except Exception as exc:  # a checkpoint cut short by a kill is only a lost shortcut
        log(f"ignoring unreadable checkpoint {path} ({exc}); starting from the first task")
        return None
    if saved.get("format") != CHECKPOINT_FORMAT or saved.get("fingerprint") != fingerprint:
        log(f"ignoring checkpoint {path}: it belongs to another configuration; starting from the first task")
        return None
    method = saved["method"]
    method.attach(stream)
    return saved["state"], method, saved["shuffle_generator"]
