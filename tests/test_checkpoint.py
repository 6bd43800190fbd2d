"""Checkpoints at task boundaries: an interrupted run resumes and ends exactly like an uninterrupted one,
and a checkpoint that is not the run's own, untouched and plausible is ignored, naming the file and
the reason, without ever running code from it."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import agem.training.checkpoint as checkpoint_module
from agem.data.datasets import build_stream
from agem.runs.runfile import read_run
from agem.training.checkpoint import MAGIC, seal
from agem.training.loop import train_run
from helpers.checkpoint import (
    SETTINGS,
    Killed,
    assert_same_results,
    code_pickle,
    edited_payload,
    join_checkpoint,
    kill_after,
    set_accuracy,
    split_checkpoint,
)
from helpers.streams import PERMUTED_SPEC, SMALL_MLP

REPO = Path(__file__).resolve().parents[1]
VAN = ("van", {"lr": 0.1})


@pytest.fixture(autouse=True)
def own_key(tmp_path, monkeypatch):
    """Each test's checkpoint key in its own cache folder (not the user's ~/.cache)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def train(stream, method=VAN, **kwargs):
    return train_run(stream, method[0], method[1], SMALL_MLP, 20, SETTINGS, seed=11, **kwargs)


def killed_after_first_task(stream, checkpoint: Path, method=VAN) -> None:
    with pytest.raises(Killed):
        train(stream, method, log=kill_after("task 1/3 done"), checkpoint=checkpoint)
    assert checkpoint.is_file()


def refused(stream, checkpoint: Path, reason: str, method=VAN):
    """Train with ``checkpoint`` in place: it must be ignored with a line naming the file and
    ``reason``, and the run must equal a fresh one."""
    lines: list[str] = []
    record = train(stream, method, log=lines.append, checkpoint=checkpoint)
    prefix = f"ignoring checkpoint {checkpoint}: "
    notices = [line for line in lines if line.startswith(prefix)]
    assert len(notices) == 1 and reason in notices[0].removeprefix(prefix), lines[:3]  # not in the path (the test's name)
    assert not any("resuming" in line for line in lines)
    assert_same_results(train(stream, method, log=lambda _: None), record)
    return notices[0]


@pytest.mark.parametrize(("method", "hparams"), [("van", {"lr": 0.1}), ("agem", {"lr": 0.1}), ("gem", {"lr": 0.1}),
                                                 ("er", {"lr": 0.1}), ("multitask", {"lr": 0.1})])
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
    killed_after_first_task(permuted_stream, checkpoint, ("agem", {"lr": 0.1}))
    refused(permuted_stream, checkpoint, "belongs to another configuration", ("agem", {"lr": 0.05}))


def test_another_configuration_is_refused_by_its_header_alone(permuted_stream, tmp_path, monkeypatch):
    """Its payload is a pickle that runs code: it is never read, let alone deserialised."""
    checkpoint, marker = tmp_path / "run.pt", tmp_path / "code-ran"
    killed_after_first_task(permuted_stream, checkpoint, ("agem", {"lr": 0.1}))
    header, _ = split_checkpoint(checkpoint)
    checkpoint.write_bytes(join_checkpoint(header, code_pickle(marker)))
    loads = []
    monkeypatch.setattr(checkpoint_module.torch, "load", lambda *a, **k: loads.append(a))
    lines: list[str] = []
    train(permuted_stream, ("agem", {"lr": 0.05}), log=lines.append, checkpoint=checkpoint)
    assert any(line.startswith(f"ignoring checkpoint {checkpoint}: it belongs to another configuration") for line in lines)
    assert loads == [] and not marker.exists()


def test_planted_pickle_is_never_executed(permuted_stream, tmp_path):
    """A torch.save file whose unpickling runs a shell command, at the run's checkpoint path."""
    checkpoint, marker = tmp_path / "run.pt", tmp_path / "code-ran"
    checkpoint.write_bytes(code_pickle(marker))
    refused(permuted_stream, checkpoint, "not a checkpoint of this version")
    assert not marker.exists()


def test_code_pickle_behind_a_valid_tag_is_not_executed(permuted_stream, tmp_path):
    """Even someone with the key (who can tag anything) gets no code run: tensors and data only."""
    checkpoint, marker = tmp_path / "run.pt", tmp_path / "code-ran"
    killed_after_first_task(permuted_stream, checkpoint)
    header, _ = split_checkpoint(checkpoint)
    checkpoint.write_bytes(seal(header["fingerprint"], code_pickle(marker)))
    refused(permuted_stream, checkpoint, "not plain tensors and data")
    assert not marker.exists()


@pytest.mark.parametrize("retag", [False, True], ids=["tag kept", "sha256 recomputed"])
def test_edited_checkpoint_of_the_right_configuration_is_refused(permuted_stream, tmp_path, retag):
    """The report's edit (acc_final[0, 0] = 0.123, 12,347 s) by someone without the key."""
    checkpoint = tmp_path / "run.pt"
    killed_after_first_task(permuted_stream, checkpoint)
    header, payload = split_checkpoint(checkpoint)
    edited = edited_payload(payload, set_accuracy)
    if retag:  # what anyone can compute: a plain digest, as if no key were in use
        header = {**header, "tag_kind": "sha256", "tag": hashlib.sha256(MAGIC + header["fingerprint"].encode() + b"\0" + edited).hexdigest()}
    checkpoint.write_bytes(join_checkpoint(header, edited))
    refused(permuted_stream, checkpoint, "tagged with 'sha256'" if retag else "integrity tag does not match")


def test_truncated_checkpoint_is_refused(permuted_stream, tmp_path):
    checkpoint = tmp_path / "run.pt"
    killed_after_first_task(permuted_stream, checkpoint)
    checkpoint.write_bytes(checkpoint.read_bytes()[:-100])
    refused(permuted_stream, checkpoint, "it is truncated (")


def _set(name, value, index=None):
    def change(saved):
        if index is None:
            saved["run"][name] = value
        else:
            saved["run"][name][index] = value
    return change


@pytest.mark.parametrize(("change", "reason"), [
    (_set("acc_final", 1.5, (0, 0)), "acc_final holds accuracies outside [0, 1]"),
    (_set("acc_lca", -0.1, (0, 0)), "acc_lca holds accuracies outside [0, 1]"),
    (_set("acc_final", torch.zeros(2, 2, dtype=torch.float64)), "acc_final is not a float64 array of shape (3, 3)"),
    (_set("train_seconds", -1.0), "train_seconds -1.0 is not a finite non-negative number"),
    (_set("train_seconds", math.inf), "train_seconds inf is not a finite non-negative number"),
    (_set("next_phase", 4), "next_phase 4 is not an integer between 1 and 3"),
    (_set("step", -1), "step -1 is not an integer between 0"),
    (_set("curve_step", 5, (0, 0)), "curve_step names a task outside 0..2"),
    (lambda saved: saved.pop("shuffle_generator"), "does not hold exactly a run state"),
    (lambda saved: saved["method"].update(stream=None), "'stream' is not an attribute a checkpoint restores"),
    (lambda saved: saved["method"].update(memory_per_task={"kind": "object", "type": "os.system", "attrs": {}}), "method state does not fit"),
], ids=["accuracy above 1", "accuracy below 0", "shape", "negative seconds", "infinite seconds", "phase", "step", "curve task",
        "generator missing", "method attribute", "method object"])
def test_validly_tagged_checkpoint_with_impossible_values_is_refused(permuted_stream, tmp_path, change, reason):
    """Validation behind the tag: values no run produces are refused even when tagged with the key."""
    checkpoint = tmp_path / "run.pt"
    killed_after_first_task(permuted_stream, checkpoint)
    header, payload = split_checkpoint(checkpoint)
    checkpoint.write_bytes(seal(header["fingerprint"], edited_payload(payload, change)))
    refused(permuted_stream, checkpoint, reason)


def test_unreadable_checkpoint_is_ignored(permuted_stream, tmp_path):
    checkpoint = tmp_path / "run.pt"
    checkpoint.write_bytes(b"cut short by a kill")
    refused(permuted_stream, checkpoint, "not a checkpoint of this version")


def test_key_is_created_private_and_tags_with_hmac(permuted_stream, tmp_path):
    checkpoint = tmp_path / "run.pt"
    killed_after_first_task(permuted_stream, checkpoint)
    key = tmp_path / "cache" / "agem-repro" / "checkpoint.key"
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32
    header, payload = split_checkpoint(checkpoint)
    expected = hmac.new(key.read_bytes(), MAGIC + header["fingerprint"].encode() + b"\0" + payload, hashlib.sha256).hexdigest()
    assert header["tag_kind"] == "hmac-sha256" and header["tag"] == expected


def test_another_users_key_is_refused(permuted_stream, tmp_path, monkeypatch):
    checkpoint = tmp_path / "run.pt"
    killed_after_first_task(permuted_stream, checkpoint)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "other-user"))
    refused(permuted_stream, checkpoint, "integrity tag does not match")


def test_without_a_key_checkpoints_fall_back_to_sha256_and_still_resume(permuted_stream, tmp_path, monkeypatch):
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))  # the key cannot be created under a file
    checkpoint = tmp_path / "run.pt"
    killed_after_first_task(permuted_stream, checkpoint)
    assert split_checkpoint(checkpoint)[0]["tag_kind"] == "sha256"
    lines: list[str] = []
    assert_same_results(train(permuted_stream, log=lambda _: None), train(permuted_stream, log=lines.append, checkpoint=checkpoint))
    assert any("resuming from checkpoint" in line for line in lines)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # where a key exists, a digest anyone can compute is not enough
    refused(permuted_stream, checkpoint, "tagged with 'sha256'")


@pytest.mark.slow
def test_killed_training_job_resumes_to_the_same_run_file(tmp_path):
    """A real SIGKILL of scripts/train.py after a task, then the same command again."""
    stream = tmp_path / "stream.h5"
    build_stream("permuted_digits", {**PERMUTED_SPEC, "n_tasks": 7}, 5, stream)
    settings = json.dumps({"method": "gem", "hparams": {"lr": 0.1}, "network": SMALL_MLP,
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
