"""A project folder whose path holds a space: every shell rule quotes its paths."""

import os
import shutil
import subprocess
import sys

import pytest

from helpers.workflow import REPO, write_config

TINY = {"datasets": ["split_digits"], "methods": ["van"], "seeds": [7],
        "benchmarks": {"split_digits": {"n_tasks": 2, "memory_per_task": 20}}}


@pytest.mark.slow
def test_the_workflow_runs_from_a_folder_with_a_space_in_its_path(tmp_path):
    checkout = tmp_path / "my project"
    checkout.mkdir()
    for name in ("Snakefile", "workflow", "scripts", "src", "config", "profiles"):
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, checkout / name)
    workdir = checkout / "work dir"
    workdir.mkdir()
    config = write_config(checkout / "tiny config.yaml", TINY)
    env = {**os.environ, "PYTHONPATH": str(checkout / "src")}  # the copy's code, as an install there would be
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(checkout / "Snakefile"), "--directory", str(workdir),
               "--cores", "1", "--configfile", str(config)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (workdir / "results" / "tiny_config" / "tables" / "main.csv").is_file()
    assert list((workdir / "results" / "runs" / "split_digits" / "van").glob("*/seed7.h5"))
