"""The SLURM profile against a real single-node SLURM cluster on localhost.

Needs root and Debian's slurmctld, slurmd, slurm-client and munge (`.ci/slurm-cluster.sh install`;
CI installs them). The cluster is brought up for this module and stopped by PID afterwards.
"""

from __future__ import annotations

import os
import re
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
# A short first status check: the plugin then backs off by 10 s per round without a finished job.
NO_ACCOUNTING = ["--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1", "--slurm-no-account"]
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


def slurm_jobs() -> list[tuple[str, str]]:
    """Id and comment of every job the cluster has seen recently (Snakemake writes rule and wildcards there)."""
    listing = subprocess.run(["squeue", "--states=all", "--noheader", "-o", "%i|%k"], capture_output=True, text=True, timeout=30, check=True)
    return [tuple(line.split("|", 1)) for line in listing.stdout.splitlines()]


def submitted_rules(workdir) -> list[str]:
    """The rule of every job submitted from ``workdir``: the plugin keeps one log per job under
    slurm_logs/rule_<name>/ (--slurm-keep-successful-logs). Unlike squeue, whose memory ends
    MinJobAge (300 s here) after a job, these cannot age out under a slow run."""
    logs = workdir / ".snakemake" / "slurm_logs"
    return sorted(log.relative_to(logs).parts[0].removeprefix("rule_") for log in logs.rglob("*.log"))


def run_profile(workdir, *args: str, timeout: int) -> subprocess.CompletedProcess:
    """Snakemake with the SLURM profile; a run that outlives `timeout` fails the test as a hang."""
    try:
        return snakemake(workdir, "--profile", str(REPO / "profiles" / "slurm"), *NO_ACCOUNTING, "--slurm-keep-successful-logs",
                         *args, timeout=timeout)
    except subprocess.TimeoutExpired as hung:
        log = hung.stderr.decode() if isinstance(hung.stderr, bytes) else hung.stderr or ""
        pytest.fail(f"snakemake {' '.join(args)} made no progress in {timeout} s and was killed; its log ends with:\n{log[-2000:]}")


def assert_each_run_was_an_sbatch_job(workdir, runs) -> None:
    """Each run file records the SLURM job it ran in, a job of its own, whose log the plugin wrote under rule_train."""
    job_ids = {str(run): read_run(run).versions["slurm_job_id"] for run in runs}
    assert all(job_ids.values()) and len(set(job_ids.values())) == len(job_ids), job_ids
    train_logs = {log.stem for log in (workdir / ".snakemake" / "slurm_logs" / "rule_train").rglob("*.log")}
    assert set(job_ids.values()) <= train_logs, (job_ids, sorted(train_logs))


def test_pipeline_runs_through_sbatch_and_matches_a_local_run(cluster, tmp_path):
    slurm_dir, local_dir = tmp_path / "slurm", tmp_path / "local"
    for folder in (slurm_dir, local_dir):
        folder.mkdir()
        write_config(folder / "config.yaml", CONFIG)

    result = run_profile(slurm_dir, "--configfile", str(slurm_dir / "config.yaml"), timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    # Every stream and training job was an sbatch submission, each training job with a SLURM log of
    # its own; the tables, figures and summary are local rules (profiles/README.md, "What runs where").
    runs = [next((slurm_dir / "results" / "runs" / d / m).glob("*/seed21.h5")) for d in CONFIG["datasets"] for m in CONFIG["methods"]]
    assert submitted_rules(slurm_dir) == ["build_stream"] * len(CONFIG["datasets"]) + ["train"] * len(runs)
    assert_each_run_was_an_sbatch_job(slurm_dir, runs)

    local = snakemake(local_dir, "--cores", "2", "--configfile", str(local_dir / "config.yaml"))
    assert local.returncode == 0, local.stderr[-3000:]
    # Same seeds, same accuracies: the tables agree except for the measured time, the runs bit for bit,
    # and so do the figures drawn from accuracies only.
    tables = [pd.read_csv(d / "results" / "config" / "tables" / "main.csv")[ACCURACY_COLUMNS] for d in (slurm_dir, local_dir)]
    pd.testing.assert_frame_equal(*tables)
    for run in (slurm_dir / "results" / "runs").rglob("*.h5"):
        on_slurm, here = read_run(run), read_run(local_dir / run.relative_to(slurm_dir))
        np.testing.assert_array_equal(on_slurm.acc_final, here.acc_final)
        np.testing.assert_array_equal(on_slurm.acc_lca, here.acc_lca)
    for figure in ("fig3_accuracy_vs_tasks.png", "fig3_lca_vs_beta.png", "fig6_violations.png"):
        assert (slurm_dir / "results" / "config" / "figures" / figure).read_bytes() == (local_dir / "results" / "config" / "figures" / figure).read_bytes()


def test_a_jobs_limit_below_the_training_fan_out_submits_every_training_job(cluster, tmp_path):
    # More training jobs than `--jobs` may be queued at once: the limit hands the executor a part of
    # the ready training jobs at a time, which job arrays (slurm-array-jobs) turned into a silent hang
    # (the guard test below refuses that combination). The training runs are the targets (the full
    # pipeline through SLURM is the test above): three runs of split_digits under --jobs 2, so two
    # are handed over, then the third. Each SLURM round trip costs 20-35 s of scheduling and status
    # polling (the plugin backs off by 10 s a round), so the test keeps to two rounds.
    jobs, methods = 2, ["van", "agem", "er"]
    config = write_config(tmp_path / "config.yaml", {**CONFIG, "methods": methods})
    # The stream is built here first: only the training jobs are under test.
    stream = snakemake(tmp_path, "results/streams/split_digits/seed21.h5", "--cores", "1", "--configfile", str(config))
    assert stream.returncode == 0, stream.stderr[-3000:]
    # The run files' paths, at their identities' paths, as the workflow plans them.
    plan = snakemake(tmp_path, "-n", "--cores", "1", "--configfile", str(config))
    targets = sorted(set(re.findall(r"results/runs/split_digits/\w+/[A-Za-z0-9_.+-]+/seed21\.h5", plan.stdout)))
    runs = [tmp_path / target for target in targets]
    assert len(runs) == len(methods) > jobs, targets
    result = run_profile(tmp_path, *targets, "--configfile", str(config), "--jobs", str(jobs), timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert_each_run_was_an_sbatch_job(tmp_path, runs)


def test_job_arrays_that_the_jobs_limit_would_hang_fail_with_a_message(cluster, tmp_path):
    # workflow/rules/slurm_arrays.smk, in a workflow of six quick jobs of one rule.
    (tmp_path / "Snakefile").write_text(
        f'include: "{REPO / "workflow" / "rules" / "slurm_arrays.smk"}"\n\n'
        'rule all:\n    input: expand("done/{i}.txt", i=range(6))\n\n'
        'rule touch:\n    output: "done/{i}.txt"\n    shell: "touch {output}"\n'
    )
    arrays = ["--executor", "slurm", *NO_ACCOUNTING, "--slurm-array-jobs", "touch"]

    refused = snakemake(tmp_path, *arrays, "--jobs", "4", snakefile=tmp_path / "Snakefile", timeout=120)
    assert refused.returncode != 0
    assert "--slurm-array-jobs touch with --jobs 4 would hang" in refused.stderr
    assert "raise --jobs to at least 7" in refused.stderr
    assert not (tmp_path / "done").exists() and not (tmp_path / ".snakemake" / "slurm_logs").exists()

    # A limit above the run's jobs hands the plugin all six at once: one array, and the run finishes.
    allowed = snakemake(tmp_path, *arrays, "--jobs", "7", snakefile=tmp_path / "Snakefile", timeout=300)
    assert allowed.returncode == 0, allowed.stderr[-3000:]
    assert len(list((tmp_path / "done").glob("*.txt"))) == 6
    touch_jobs = [job_id for job_id, comment in slurm_jobs() if comment.startswith("rule_touch")]
    assert touch_jobs and all("_" in job_id for job_id in touch_jobs), touch_jobs  # array tasks: <array id>_<index>


def test_a_failing_rule_under_slurm_makes_snakemake_fail(cluster, tmp_path):
    # CUDA on a compute node without it: the submitting host cannot know the nodes' devices, so the
    # job's own Snakemake refuses the config on the node, before training, with a clear error.
    config = write_config(tmp_path / "config.yaml", {**CONFIG, "datasets": ["split_digits"], "methods": ["van"], "device": "cuda"})
    result = run_profile(tmp_path, "--configfile", str(config), "--retries", "0", timeout=600)
    assert result.returncode != 0
    assert not list((tmp_path / "results" / "runs" / "split_digits" / "van").glob("*/seed21.h5"))
    slurm_logs = "".join(log.read_text() for log in (tmp_path / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert "device 'cuda' was requested but CUDA is not available here" in result.stdout + result.stderr + slurm_logs
    assert yaml.safe_load(config.read_text())["device"] == "cuda"
