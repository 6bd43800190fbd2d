"""The SLURM profile against a real single-node SLURM cluster on localhost.

Needs root and Debian's slurmctld, slurmd, slurm-client and munge (`.ci/slurm-cluster.sh install`;
CI installs them). The cluster is brought up for this module and stopped by PID afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml

from agem.runs.runfile import read_run
from helpers.workflow import REPO, snakemake, write_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("slurmctld") and shutil.which("slurmd") and shutil.which("munged")) or os.geteuid() != 0,
        reason="needs root and SLURM (run `.ci/slurm-cluster.sh install` as root)",
    ),
]

CLUSTER_SCRIPT = REPO / ".ci" / "slurm-cluster.sh"
# This cluster has no accounting database: job states must come from squeue (see README).
NO_ACCOUNTING = ["--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "5", "--slurm-no-account"]
CONFIG = {
    "datasets": ["permuted_digits", "split_digits"],
    "methods": ["van", "agem"],
    "seeds": [21],
    "benchmarks": {
        "permuted_digits": {"n_tasks": 4, "n_cv_tasks": 1, "memory_per_task": 50},
        "split_digits": {"n_tasks": 3, "memory_per_task": 20},
    },
}
ACCURACY_COLUMNS = ["dataset", "method", "n_seeds", "A_T_mean", "A_T_std", "F_T_mean", "F_T_std", "LCA10_mean", "LCA10_std"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("slurm")
    up = subprocess.run([str(CLUSTER_SCRIPT), "up", str(base)], capture_output=True, text=True, timeout=180)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield base
    finally:
        subprocess.run([str(CLUSTER_SCRIPT), "down", str(base)], capture_output=True, timeout=120)


def slurm_comments() -> list[str]:
    """The comment of every job the cluster has seen recently (Snakemake writes rule and wildcards there)."""
    listing = subprocess.run(["squeue", "--states=all", "--noheader", "-o", "%i|%k"], capture_output=True, text=True, timeout=30, check=True)
    return [line.split("|", 1)[1] for line in listing.stdout.splitlines()]


def test_pipeline_runs_through_sbatch_and_matches_a_local_run(cluster, tmp_path):
    slurm_dir, local_dir = tmp_path / "slurm", tmp_path / "local"
    for folder in (slurm_dir, local_dir):
        folder.mkdir()
        write_config(folder / "config.yaml", CONFIG)
    before = len([c for c in slurm_comments() if c.startswith("rule_train")])

    result = snakemake(slurm_dir, "--profile", str(REPO / "profiles" / "slurm"), "--configfile", str(slurm_dir / "config.yaml"),
                       *NO_ACCOUNTING, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    n_runs = len(CONFIG["datasets"]) * len(CONFIG["methods"]) * len(CONFIG["seeds"])
    # Every training job was an sbatch submission (array tasks), with a SLURM log of its own.
    assert len([c for c in slurm_comments() if c.startswith("rule_train")]) - before == n_runs
    assert len(list((slurm_dir / ".snakemake" / "slurm_logs" / "rule_train").glob("*.log"))) == n_runs
    for dataset in CONFIG["datasets"]:
        for method in CONFIG["methods"]:
            assert read_run(slurm_dir / "results" / "runs" / dataset / method / "seed21.h5").versions["slurm_job_id"]

    local = snakemake(local_dir, "--cores", "2", "--configfile", str(local_dir / "config.yaml"))
    assert local.returncode == 0, local.stderr[-3000:]
    # Same seeds, same accuracies: the tables agree except for the measured time, the runs bit for bit,
    # and so do the figures drawn from accuracies only.
    tables = [pd.read_csv(d / "results" / "tables" / "main.csv")[ACCURACY_COLUMNS] for d in (slurm_dir, local_dir)]
    pd.testing.assert_frame_equal(*tables)
    for run in (slurm_dir / "results" / "runs").rglob("*.h5"):
        on_slurm, here = read_run(run), read_run(local_dir / run.relative_to(slurm_dir))
        np.testing.assert_array_equal(on_slurm.acc_final, here.acc_final)
        np.testing.assert_array_equal(on_slurm.acc_lca, here.acc_lca)
    for figure in ("fig3_accuracy_vs_tasks.png", "fig3_lca_vs_beta.png", "fig6_violations.png"):
        assert (slurm_dir / "results" / "figures" / figure).read_bytes() == (local_dir / "results" / "figures" / figure).read_bytes()


def test_a_failing_rule_under_slurm_makes_snakemake_fail(cluster, tmp_path):
    # Training on CUDA on a machine without it fails inside the SLURM job with a clear error.
    config = write_config(tmp_path / "config.yaml", {**CONFIG, "datasets": ["split_digits"], "methods": ["van"], "device": "cuda"})
    result = snakemake(tmp_path, "--profile", str(REPO / "profiles" / "slurm"), "--configfile", str(config), "--retries", "0",
                       *NO_ACCOUNTING, timeout=600)
    assert result.returncode != 0
    assert not (tmp_path / "results" / "runs" / "split_digits" / "van" / "seed21.h5").exists()
    log = (tmp_path / "results" / "logs" / "train" / "split_digits" / "van" / "seed21.log").read_text()
    assert "CUDA is not available" in log
    assert yaml.safe_load(config.read_text())["device"] == "cuda"
