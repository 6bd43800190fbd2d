"""Running Snakemake on a temporary copy of the workflow with a tiny config."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "Snakefile"


# A small but complete stream: 1 CV + 3 evaluation tasks, and a 3-task split benchmark.
TINY_CONFIG = {
    "datasets": ["permuted_digits", "split_digits"],
    "methods": ["van", "agem"],
    "seeds": [7],
    "benchmarks": {
        "permuted_digits": {"n_tasks": 4, "n_cv_tasks": 1, "memory_per_task": 50},
        "split_digits": {"n_tasks": 3, "memory_per_task": 20},
    },
}


def snakemake(workdir: Path, *args: str, timeout: int = 600, snakefile: Path = SNAKEFILE) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(workdir), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def job_counts(output: str) -> dict[str, int]:
    """Parse Snakemake's 'Job stats' table of a dry run."""
    table = output.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, flags=re.MULTILINE)}


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


# ---- A workflow of its own, for tests that must see no rerun ------------------------------------
# The code files are inputs of the tables and figures, so a test that asserts "Nothing to be done"
# runs a copy of the workflow: an edit in the checkout while it runs then reruns nothing.
CHECKOUT_PARTS = ("Snakefile", "workflow", "scripts", "config", "profiles", "src/agem")


def copy_checkout(target: Path) -> Path:
    """Copy the workflow's files (times kept) to ``target``; returns the copy's Snakefile."""
    target.mkdir(parents=True, exist_ok=True)
    for name in CHECKOUT_PARTS:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    return target / "Snakefile"


def jobs_run(output: str) -> dict[str, int]:
    """How many jobs of each rule a (real or dry) run started: its ``rule X:``/``localrule X:`` lines."""
    counts: dict[str, int] = {}
    for match in re.finditer(r"^(?:local)?rule (\w+):$", output, flags=re.MULTILINE):
        counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return counts


def fingerprints(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: its sha256 and modification time (ns)."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}
