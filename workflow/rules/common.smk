import sys
from pathlib import Path

from agem.config import job_settings, stream_spec, to_json

# The interpreter running Snakemake runs the scripts too, so a virtual environment needs no activation.
PYTHON = sys.executable
RESULTS = "results"
# Scripts are found beside the Snakefile, so `--directory` can put results anywhere.
SCRIPTS = Path(workflow.basedir) / "scripts"


wildcard_constraints:
    dataset="[A-Za-z0-9_]+",
    method="[A-Za-z0-9_]+",
    seed="[0-9]+",


def run_files(wildcards=None):
    return expand(
        f"{RESULTS}/runs/{{dataset}}/{{method}}/seed{{seed}}.h5",
        dataset=config["datasets"],
        method=config["methods"],
        seed=config["seeds"],
    )


def benchmark_resources(wildcards) -> dict:
    return config["benchmarks"][wildcards.dataset]["resources"]


def checkpoint_argument(wildcards) -> str:
    """Training jobs save their state at every task boundary; a rerun resumes from it."""
    if not config["training"]["checkpoint"]:
        return ""
    return f"--checkpoint {RESULTS}/checkpoints/{wildcards.dataset}/{wildcards.method}/seed{wildcards.seed}.pt"
