import sys
from pathlib import Path

from agem.pipeline.config import benchmark_methods, benchmark_seeds, job_settings, stream_spec, to_json
from agem.training.cv import grid_points

# The interpreter running Snakemake runs the scripts too, so a virtual environment needs no activation.
PYTHON = sys.executable
RESULTS = "results"
# Scripts are found beside the Snakefile, so `--directory` can put results anywhere.
SCRIPTS = Path(workflow.basedir) / "scripts"


wildcard_constraints:
    dataset="[A-Za-z0-9_]+",
    method="[A-Za-z0-9_]+",
    seed="[0-9]+",
    point="[A-Za-z0-9_.+-]+",


def run_files(wildcards=None):
    # A benchmark may run its own seeds (paper: 5 runs on MNIST and CIFAR, 10 on CUB and AWA) and
    # a subset of the methods (no GEM or PROG-NN on CUB and AWA).
    return [
        f"{RESULTS}/runs/{dataset}/{method}/seed{seed}.h5"
        for dataset in config["datasets"]
        for method in benchmark_methods(config, dataset)
        for seed in benchmark_seeds(config, dataset)
    ]


def benchmark_resources(wildcards) -> dict:
    return config["benchmarks"][wildcards.dataset]["resources"]


def checkpoint_argument(wildcards) -> str:
    """Training jobs save their state at every task boundary; a rerun resumes from it."""
    if not config["training"]["checkpoint"]:
        return ""
    return f"--checkpoint {RESULTS}/checkpoints/{wildcards.dataset}/{wildcards.method}/seed{wildcards.seed}.pt"


# Training jobs of both kinds (evaluation and cross-validation) ask for their benchmark's resources.
TRAIN_RESOURCES = dict(
    gpu=lambda wildcards: int(benchmark_resources(wildcards)["gpu"]),
    mem_mb=lambda wildcards: benchmark_resources(wildcards)["train_mem_mb"],
    runtime=lambda wildcards, attempt: benchmark_resources(wildcards)["train_runtime"] * attempt,
)


def cross_validating() -> bool:
    return config["hparam_selection"] == "cross_validate"


def selected_hparams(wildcards) -> list[str]:
    """With cross-validation, the evaluation run waits for its benchmark × method's selection."""
    if not cross_validating():
        return []
    return [f"{RESULTS}/cv/{wildcards.dataset}/{wildcards.method}.yaml"]


def hparams_file_argument(wildcards) -> str:
    return " ".join(f"--hparams-file {path}" for path in selected_hparams(wildcards))


def cv_run_files(wildcards) -> list[str]:
    return expand(
        f"{RESULTS}/cv/{wildcards.dataset}/{wildcards.method}/{{point}}/seed{{seed}}.h5",
        point=grid_points(config, wildcards.dataset, wildcards.method),
        seed=config["cv_seeds"],
    )
