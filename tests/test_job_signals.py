"""A training job stopped by SIGTERM says so in its log, exits 128 + 15, and its rerun resumes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agem.data.datasets import build_stream
from agem.pipeline.interrupts import interrupted_run_note
from agem.training.job_signals import JobKilled, killed_message
from helpers.streams import PERMUTED_SPEC, SMALL_MLP

REPO = Path(__file__).resolve().parents[1]


def test_killed_message_names_signal_task_and_checkpoint():
    killed = JobKilled(signal.SIGTERM)
    killed.tasks_done = 3
    assert killed.exit_code == 143
    assert killed_message(killed, "ck.pt") == (
        "killed by signal SIGTERM after task 3; the checkpoint ck.pt resumes it after task 3 when snakemake is run again"
    )
    interrupted = JobKilled(signal.SIGINT)
    interrupted.tasks_done = 0
    assert interrupted.exit_code == 130
    assert killed_message(interrupted, None) == (
        "killed by signal SIGINT before finishing its first task; no checkpoint is kept (training.checkpoint: false), "
        "so a rerun starts from the first task"
    )


@pytest.mark.slow
def test_sigterm_is_logged_with_its_task_and_the_rerun_resumes(tmp_path):
    stream = tmp_path / "stream.h5"
    build_stream("permuted_digits", {**PERMUTED_SPEC, "n_tasks": 6}, 5, stream)
    # 30 epochs: a task takes seconds, so the signal lands inside a later task (on a loaded
    # machine it may land later still: the message names whichever task was last finished).
    settings = json.dumps({"dataset": "permuted_digits", "method": "van", "hparams": {"lr": 0.1}, "network": SMALL_MLP,
                           "memory_per_task": 10, "training": {"epochs": 30}, "device": "cpu"})
    out, checkpoint = tmp_path / "run.h5", tmp_path / "run.pt"
    command = [sys.executable, str(REPO / "scripts" / "train.py"), "--stream", str(stream), "--seed", "5",
               "--settings", settings, "--out", str(out), "--checkpoint", str(checkpoint)]
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in job.stdout:
            if "task 1/5 done" in line:
                job.send_signal(signal.SIGTERM)
                break
        stderr = job.communicate(timeout=120)[1]
    finally:
        job.kill()
    assert job.returncode == 143, stderr
    killed = re.search(r"killed by signal SIGTERM after task (\d); the checkpoint (\S+) resumes it after task \1", stderr)
    assert killed and killed[2] == str(checkpoint), stderr
    assert "Traceback" not in stderr
    # No run file and no temporary file left; the checkpoint of the finished tasks is kept.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt", "stream.h5"]

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ})
    assert rerun.returncode == 0, rerun.stderr
    done = int(killed[1])
    assert f"resuming from checkpoint {checkpoint}: {done} of 5 training phases done" in rerun.stdout
    assert f"task {done}/5 done" not in rerun.stdout
    assert done == 5 or f"task {done + 1}/5 done" in rerun.stdout
    assert out.is_file() and not checkpoint.exists()


def test_stopped_snakemake_run_is_explained_only_when_a_signal_stopped_it(tmp_path):
    stopped, failed = tmp_path / "stopped.log", tmp_path / "failed.log"
    stopped.write_text("Will exit after finishing currently running jobs (scheduler).\n")
    failed.write_text("Error in rule train:\n")
    assert interrupted_run_note([str(stopped)]).startswith("note: snakemake was stopped by a signal (SIGTERM or Ctrl-C)")
    assert interrupted_run_note(str(stopped)) == interrupted_run_note([str(stopped)])
    assert interrupted_run_note([str(failed)]) is None
    assert interrupted_run_note([str(tmp_path / "absent.log")]) is None
    assert interrupted_run_note([]) is None
