"""Hostile checkpoints (area "checkpoint"): a file planted or edited at a training job's checkpoint
path, then the job (``scripts/train.py``) run on a tiny digits stream. The job must never run code
from the file, must ignore it with a line naming the file and the reason, and must train afresh
to its run file (tests/helpers/hostile.py).

The finished result (:func:`prepare`) is a table and the job's stream. Ignoring a checkpoint is
the correct outcome, so each case is an accepted one (``expect`` None: the job must succeed);
``act`` reports the job as failed (exit status 1) when its output lacks the notice that names
the file and the reason, so that a silent ignore is not "clear". ``harmed`` reports the marker
file that the planted code writes, and a run file that took the edited numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import h5py

from agem.data.datasets import build_stream
from agem.data.streams import load_stream
from agem.training.checkpoint import seal
from agem.training.loop import train_run
from agem.training.settings import TrainSettings
from helpers.checkpoint import Killed, code_pickle, edited_payload, join_checkpoint, kill_after, set_accuracy, split_checkpoint
from helpers.hostile import Hostile
from helpers.streams import PERMUTED_SPEC, SMALL_MLP

REPO = Path(__file__).resolve().parents[2]
STREAM = "results/streams/permuted_digits/seed5.h5"
CHECKPOINT = "results/checkpoints/permuted_digits/van/seed5.pt"
RUN = "work/van_seed5.h5"
MARKER = "code-ran"
TABLE = "results/tables/main.csv"
JOB = {"method": "van", "hparams": {"lr": 0.1}, "network": SMALL_MLP, "memory_per_task": 20, "training": {}, "device": "cpu"}


def prepare(workdir: Path) -> None:
    """The finished result a hostile checkpoint must not cost (a table), and the job's stream."""
    build_stream("permuted_digits", PERMUTED_SPEC, 5, workdir / STREAM)
    (workdir / TABLE).parent.mkdir(parents=True, exist_ok=True)
    (workdir / TABLE).write_text("dataset,method,A_T\npermuted_digits,van,70\n")


@contextmanager
def users_key(workdir: Path):
    """This process uses the job's key folder (the user's key, as the job sees it)."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(workdir / "cache")
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("XDG_CACHE_HOME")
        else:
            os.environ["XDG_CACHE_HOME"] = saved


def genuine_checkpoint(workdir: Path, hparams: dict | None = None) -> tuple[dict, bytes]:
    """(header, payload) of the job's own checkpoint after its first task (another configuration's
    with other ``hparams``), written with the user's key as the job would."""
    path = workdir / "genuine.pt"
    with users_key(workdir):
        try:
            train_run(load_stream(workdir / STREAM), JOB["method"], hparams or JOB["hparams"], SMALL_MLP, JOB["memory_per_task"],
                      TrainSettings(), 5, log=kill_after("task 1/3 done"), checkpoint=path)
        except Killed:
            pass
    parts = split_checkpoint(path)
    path.unlink()
    return parts


def train_job(workdir: Path) -> tuple[int, str]:
    """scripts/train.py with the checkpoint in place; failed (1) unless it names the file in an
    'ignoring checkpoint' line."""
    env = {**os.environ, "XDG_CACHE_HOME": str(workdir / "cache"),
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, str(REPO / "scripts" / "train.py"), "--stream", str(workdir / STREAM), "--seed", "5",
               "--settings", json.dumps(JOB), "--out", str(workdir / RUN), "--checkpoint", str(workdir / CHECKPOINT)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    output = result.stdout + result.stderr
    if result.returncode == 0 and f"ignoring checkpoint {workdir / CHECKPOINT}: " not in output:
        return 1, output + "\nthe job trained without saying that it ignored the checkpoint"
    return result.returncode, output


def planting(make: Callable[[Path], bytes]) -> Callable[[Path], tuple[int, str]]:
    """An act: the bytes ``make(workdir)`` at the job's checkpoint path, then the job."""
    def act(workdir: Path) -> tuple[int, str]:
        data = make(workdir)
        (workdir / CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
        (workdir / CHECKPOINT).write_bytes(data)
        return train_job(workdir)
    return act


def harmed(workdir: Path) -> str | None:
    if (workdir / MARKER).exists():
        return f"code from the checkpoint ran: {workdir / MARKER} exists"
    if (workdir / RUN).exists():
        with h5py.File(workdir / RUN, "r") as f:
            if f["acc_final"][0, 0] == 0.123 or f.attrs.get("train_seconds") == 12347.0:
                return f"the run file {workdir / RUN} took the edited checkpoint's numbers"
    return None


def _planted_pickle(workdir: Path) -> bytes:
    return code_pickle(workdir / MARKER)


def _another_configuration_with_code(workdir: Path) -> bytes:
    header, _ = genuine_checkpoint(workdir, {"lr": 0.05})
    return join_checkpoint(header, code_pickle(workdir / MARKER))


def _edited(workdir: Path) -> bytes:
    header, payload = genuine_checkpoint(workdir)
    return join_checkpoint(header, edited_payload(payload, set_accuracy))


def _truncated(workdir: Path) -> bytes:
    header, payload = genuine_checkpoint(workdir)
    return join_checkpoint(header, payload)[:-100]


def _code_behind_a_valid_tag(workdir: Path) -> bytes:
    header, _ = genuine_checkpoint(workdir)
    with users_key(workdir):
        return seal(header["fingerprint"], code_pickle(workdir / MARKER))


def _impossible_accuracy_behind_a_valid_tag(workdir: Path) -> bytes:
    header, payload = genuine_checkpoint(workdir)

    def change(saved):
        saved["run"]["acc_final"][0, 0] = 1.5

    with users_key(workdir):
        return seal(header["fingerprint"], edited_payload(payload, change))


CASES: list[Hostile] = [
    Hostile("checkpoint: planted pickle that runs code", "checkpoint", planting(_planted_pickle), None, harmed),
    Hostile("checkpoint: another configuration's header, code as payload", "checkpoint", planting(_another_configuration_with_code), None, harmed),
    Hostile("checkpoint: accuracy and seconds edited without the key", "checkpoint", planting(_edited), None, harmed),
    Hostile("checkpoint: truncated", "checkpoint", planting(_truncated), None, harmed),
    Hostile("checkpoint: code tagged with the user's key", "checkpoint", planting(_code_behind_a_valid_tag), None, harmed),
    Hostile("checkpoint: accuracy 1.5 tagged with the user's key", "checkpoint", planting(_impossible_accuracy_behind_a_valid_tag), None, harmed),
]
