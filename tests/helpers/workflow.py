"""Running Snakemake on a temporary copy of the workflow with a tiny config."""

from __future__ import annotations

import re
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
