"""Checkpoints at task boundaries: an interrupted run resumes and ends exactly like an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agem.data.datasets import build_stream
from agem.runs.runfile import read_run
from agem.training.loop import train_run
from helpers.checkpoint import SETTINGS, Killed, assert_same_results, kill_after
from helpers.streams import PERMUTED_SPEC, SMALL_MLP

REPO = Path(__file__).resolve().parents[1]








@pytest.mark.parametrize(("method", "hparams"), [("van", {"lr": 0.1}), ("agem", {"lr": 0.1}), ("gem", {"lr": 0.1}), ("multitask", {"lr": 0.1})])
def test_resumed_run_equals_uninterrupted_run(permuted_stream, tmp_path, method, hparams):
    run = lambda **kw: train_run(permuted_stream, method, hparams, SMALL_MLP, 20, SETTINGS, seed=11, **kw)  # noqa: E731
    uninterrupted = run(log=lambda _: None)
    checkpoint = tmp_path / "run.pt"
    last_task = uninterrupted.n_tasks
    # Sequential methods are killed after their first task; MULTI-TASK (one joint phase) at its end.
    with pytest.raises(Killed):
        run(log=kill_after(f"task {1 if method != 'multitask' else last_task}/{last_task} done"), checkpoint=checkpoint)
    assert checkpoint.is_file()
    lines: list[str] = []
    resumed = run(log=lines.append, checkpoint=checkpoint)
    assert any("resuming from checkpoint" in line for line in lines)
    assert_same_results(uninterrupted, resumed)


def test_checkpoint_of_another_configuration_is_ignored(permuted_stream, tmp_path):
    checkpoint = tmp_path / "run.pt"
    with pytest.raises(Killed):
        train_run(permuted_stream, "agem", {"lr": 0.1}, SMALL_MLP, 20, SETTINGS, seed=11, log=kill_after("task 1/3 done"), checkpoint=checkpoint)
    lines: list[str] = []
    other = train_run(permuted_stream, "agem", {"lr": 0.05}, SMALL_MLP, 20, SETTINGS, seed=11, log=lines.append, checkpoint=checkpoint)
    assert any("belongs to another configuration" in line for line in lines)
    fresh = train_run(permuted_stream, "agem", {"lr": 0.05}, SMALL_MLP, 20, SETTINGS, seed=11, log=lambda _: None)
    assert_same_results(fresh, other)


def test_unreadable_checkpoint_is_ignored(permuted_stream, tmp_path):
    checkpoint = tmp_path / "run.pt"
    checkpoint.write_bytes(b"cut short by a kill")
    lines: list[str] = []
    record = train_run(permuted_stream, "van", {"lr": 0.1}, SMALL_MLP, 20, SETTINGS, seed=11, log=lines.append, checkpoint=checkpoint)
    assert any("ignoring unreadable checkpoint" in line for line in lines)
    assert not np.isnan(record.acc_final[-1, -1])


@pytest.mark.slow
def test_killed_training_job_resumes_to_the_same_run_file(tmp_path):
    """A real SIGKILL of scripts/train.py after a task, then the same command again."""
    stream = tmp_path / "stream.h5"
    build_stream("permuted_digits", {**PERMUTED_SPEC, "n_tasks": 7}, 5, stream)
    settings = json.dumps({"dataset": "permuted_digits", "method": "gem", "hparams": {"lr": 0.1}, "network": SMALL_MLP,
                           "memory_per_task": 100, "training": {}, "device": "cpu"})

    def command(out: Path, checkpoint: Path) -> list[str]:
        return [sys.executable, str(REPO / "scripts" / "train.py"), "--stream", str(stream), "--seed", "5",
                "--settings", settings, "--out", str(out), "--checkpoint", str(checkpoint)]

    reference = tmp_path / "reference.h5"
    subprocess.run(command(reference, tmp_path / "reference.pt"), check=True, capture_output=True, timeout=300)
    assert not (tmp_path / "reference.pt").exists()  # removed once the run file is written

    out, checkpoint = tmp_path / "run.h5", tmp_path / "run.pt"
    job = subprocess.Popen(command(out, checkpoint), stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        for line in job.stdout:
            if "task 2/6 done" in line:
                os.killpg(job.pid, signal.SIGKILL)
                break
    finally:
        job.wait(timeout=60)
    assert job.returncode == -signal.SIGKILL and not out.exists() and checkpoint.is_file()

    rerun = subprocess.run(command(out, checkpoint), check=True, capture_output=True, text=True, timeout=300)
    assert "resuming from checkpoint" in rerun.stdout
    assert "task 3/6 done" in rerun.stdout and "task 2/6 done" not in rerun.stdout
    assert not checkpoint.exists()
    assert_same_results(read_run(reference), read_run(out))
