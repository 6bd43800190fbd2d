# What every rules file shares: the config's checks, the pipeline's paths, the software a job runs
# with, and the functions the rules call. Included first by the Snakefile, so the rules files
# (download, streams, cv, train, aggregate, ablation, report, bundle) hold rules only.

import hashlib
import os
import sys
from pathlib import Path

from snakemake.io import IOFile
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

from agem.data.datasets import RAW_DATASETS, SOURCES, raw_folder, source_files
from agem.data.datasets.raw import RAW_ROOT
from agem.pipeline.ablation import RUN_PATTERN as ABLATION_RUN_PATTERN
from agem.pipeline.ablation import ablation_runs, ablation_settings, check_ablation
from agem.pipeline.config import (
    benchmark_methods,
    benchmark_seeds,
    check_config,
    coerce_command_line_values,
    validate_config,
    job_settings,
    stream_spec,
    to_json,
)
from agem.pipeline.config_file import check_config_file_aliases
from agem.pipeline.cost import cost_lines
from agem.pipeline.experiment import experiment_folder, experiment_name
from agem.pipeline.interrupts import interrupted_run_note
from agem.pipeline.paths import RESULTS
from agem.pipeline.run_checks import check_existing_runs
from agem.pipeline.run_plan import (
    adopt_legacy_runs,
    check_recorded_identities,
    main_runs,
    dry_run_requested,
    note_missing_runs,
    settings_by_variant,
    stream_dependency,
)
from agem.pipeline.sweeps import check_sweeps, sweep_points, sweep_runs
from agem.report.paper import ABLATION_FIGURES, FIGURES, SUMMARY_STEM, TABLES, artefact_datasets, has_runs
from agem.runs.bundle import BUNDLE_NAME, export_bundle
from agem.training.cv import grid_points

# ---- The config: every problem reported before any job starts -------------------------------

# A YAML alias bomb as --configfile would hang the coercion below: refused first (agem.pipeline.config_file).
check_config_file_aliases(workflow.config_settings.configfiles)
coerce_command_line_values(config)
# One line naming the key, the problem and the fix (Snakemake's validate would print the whole
# schema and config); validate then only fills in the schema's defaults.
validate_config(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
validate(config, "../schemas/config.schema.yaml")
# A device is checked where the jobs run: here, unless an executor sends them to other machines.
check_config(config, jobs_run_here=workflow.local_exec or workflow.remote_exec)
check_ablation(config)
check_sweeps(config)

# The result set (agem.pipeline.experiment): tables, figures and the bundle of this configuration
# go to results/{experiment}/, runs stay shared. The resolved config names it, so the config in
# a results bundle rebuilds into the same folder.
EXPERIMENT = experiment_name(config, workflow.config_settings.configfiles, workflow.config_settings.config)
config["experiment"] = EXPERIMENT

# reuse_runs: the run files under results/ are the input and no training rule exists (Snakefile).
REUSE_RUNS = config["reuse_runs"]

# ---- Paths ------------------------------------------------------------------------------------
# Outputs are relative to the working directory (`--directory` can put them anywhere); the code,
# captions and paper values are found beside the Snakefile.

RAW = RAW_ROOT.as_posix()
OUT = experiment_folder(EXPERIMENT)
BUNDLE = f"{OUT}/bundle/{BUNDLE_NAME}"
if not (workflow.remote_exec or workflow.subprocess_exec):
    print(
        f"experiment {EXPERIMENT}: tables and figures in {OUT}/ (name it with --config experiment=NAME)",
        file=sys.stderr,
    )
    print("\n".join(cost_lines(config)), file=sys.stderr)
REPO = Path(workflow.basedir)
SCRIPTS = REPO / "scripts"
PAPER_RESULTS = Path(os.path.relpath(REPO / "config" / "paper_results.yaml"))  # a job's shell and the report show it
REPORT_CAPTIONS = REPO / "workflow" / "report"

# ---- Software ---------------------------------------------------------------------------------
# Every job runs the scripts with one environment, the package's dependencies. Relative to
# workflow/rules/, where every rule is defined.
AGEM_ENV = "../envs/agem.yaml"

# Jobs run the interpreter running Snakemake, so a virtual environment needs no activation; with
# `--software-deployment-method conda` they run the job environment's own.
# PYTHON and script() are Paths, not strings, on purpose: Snakemake's params rerun trigger records
# only plain values, so moving the checkout or the virtual environment retrains nothing.
CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
PYTHON = Path("python") if CONDA else Path(os.path.relpath(sys.executable))


def script(name: str) -> Path:
    # Relative to the working directory: `snakemake --report` shows params, and an absolute path
    # there names the machine's folders (a Path param is not recorded, so this reruns nothing).
    return Path(os.path.relpath(SCRIPTS / name))


def output_folder(wildcards, output) -> str:
    """A script's --out-dir: the folder of the rule's first output (a param derived from the
    output, so it is neither spelled twice nor recorded as a param)."""
    return Path(output[0]).parent.as_posix()


# ---- Wildcards --------------------------------------------------------------------------------


wildcard_constraints:
    dataset="[A-Za-z0-9_]+",
    method="[A-Za-z0-9_]+",
    seed="[0-9]+",
    variant="[A-Za-z0-9_.+-]+",
    point="[A-Za-z0-9_.+-]+",
    raw_dataset="|".join(RAW_DATASETS),
    image_set="[A-Za-z0-9_]+-[0-9a-f]{10}",
    network="[A-Za-z0-9_]+",
    epochs="[0-9]+",


# ---- Raw data and images (download.smk, streams.smk) ------------------------------------------


def image_set(dataset: str) -> str | None:
    """Name of a benchmark's image file: its source and a digest of its source_options."""
    spec = config["benchmarks"][dataset]
    if not SOURCES[spec["source"]].image_file:
        return None
    digest = hashlib.sha256(to_json(spec.get("source_options", {})).encode()).hexdigest()[:10]
    return f"{spec['source']}-{digest}"


def image_set_spec(wildcards) -> dict:
    for dataset, spec in config["benchmarks"].items():
        if image_set(dataset) == wildcards.image_set:
            return spec
    raise ValueError(f"no benchmark in the config has image set {wildcards.image_set!r}")


def image_set_raw_files(wildcards) -> list[str]:
    spec = image_set_spec(wildcards)
    folder = raw_folder(spec["source"])
    # Bring-your-own files (source idx, fashion_mnist) are inputs too: editing one rebuilds.
    own_files = source_files(spec["source"], spec.get("source_options", {}))
    return ([] if folder is None else [f"{folder}/verified.json"]) + own_files


def stream_images(wildcards) -> list[str]:
    """The image file a benchmark's streams link to (none for the embedded digits)."""
    name = image_set(wildcards.dataset)
    return [] if name is None else [f"{RESULTS}/images/{name}.h5"]


def images_argument(wildcards) -> str:
    return " ".join(f"--images {path}" for path in stream_images(wildcards))


# ---- Training (train.smk, cv.smk, ablation.smk) -----------------------------------------------


# Every run of the config at its identity's path (agem.runs.identity): a benchmark may run its own
# seeds (paper: 5 runs on MNIST and CIFAR, 10 on CUB and AWA) and a subset of the methods.
MAIN_RUNS = main_runs(config)
SWEEP_RUN_FILES = {
    name: [run.path for point in sweep_points(config, name) for run in point.runs] for name in config["sweeps"]
}
STUDY_RUN_FILES = [run.path for run in MAIN_RUNS if run.identity.dataset in config["task_length"]]
ALL_RUNS = MAIN_RUNS + sweep_runs(config)
RUN_SETTINGS = settings_by_variant(ALL_RUNS)


def run_files(wildcards=None):
    return [run.path for run in MAIN_RUNS]


def train_settings(wildcards) -> str:
    """The job settings of the run a train job's wildcards name (only the config's runs exist)."""
    return to_json(RUN_SETTINGS[(wildcards.dataset, wildcards.method, wildcards.variant)])


def train_stream(wildcards) -> list[str]:
    """The stream a train job reads; none for a received run whose stream is missing (run_plan.py)."""
    stream = Path(f"{RESULTS}/streams/{wildcards.dataset}/seed{wildcards.seed}.h5")
    run = Path(f"{RESULTS}/runs/{wildcards.dataset}/{wildcards.method}/{wildcards.variant}/seed{wildcards.seed}.h5")
    dag = workflow.dag_settings
    forced = bool(dag.forceall or dag.forcerun or dag.forcetargets)
    return stream_dependency(run, stream, forced, workflow.persistence.input(IOFile(str(run))))


def benchmark_resources(wildcards) -> dict:
    return config["benchmarks"][wildcards.dataset]["resources"]


def checkpoint_argument(wildcards) -> str:
    """Training jobs save their state at every task boundary; a rerun resumes from it."""
    if not config["training"]["checkpoint"]:
        return ""
    return f"--checkpoint {RESULTS}/checkpoints/{wildcards.dataset}/{wildcards.method}/{wildcards.variant}/seed{wildcards.seed}.pt"


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


def available(paths: list[str]) -> list[str]:
    """With reuse_runs the run files are given, not made: the ones that exist (a missing one is
    a gap in the tables and figures). Otherwise all of them, trained where missing."""
    return [path for path in paths if Path(path).exists()] if REUSE_RUNS else list(paths)


# Snakemake knows about a dry run only after parsing; what the parse step writes must wait for a real run.
DRY_RUN = dry_run_requested(sys.argv)
# Run files of the layout before identities are moved to their identity's path, or refused
# (agem.pipeline.run_plan); then damaged run files, and files that are not the run their path
# names, are found before the job graph is built, so that the tables' job never starts
# (Snakemake would delete the previous tables first): agem.pipeline.run_checks.
if not (workflow.remote_exec or workflow.subprocess_exec):
    adopt_legacy_runs(ALL_RUNS, dry_run=DRY_RUN, log=lambda line: print(line, file=sys.stderr))
check_existing_runs([run.path for run in ALL_RUNS], REUSE_RUNS, expected={run.path: run.expected() for run in ALL_RUNS})
check_recorded_identities(ALL_RUNS)
# A deleted run is retrained, every time (Snakemake alone would not: agem.pipeline.run_plan).
MISSING_RUNS_LEDGER = f"{OUT}/logs/missing_runs.txt"
if not (REUSE_RUNS or workflow.remote_exec or workflow.subprocess_exec):
    note_missing_runs(MISSING_RUNS_LEDGER, ALL_RUNS, DRY_RUN, log=lambda line: print(line, file=sys.stderr))


# ---- The epochs ablation (ablation.smk; agem.pipeline.ablation) -------------------------------

ABLATION_RUN = f"{RESULTS}/{ABLATION_RUN_PATTERN}"
ABLATION_RUNS = available(ablation_runs(config))


def ablation_settings_argument(wildcards) -> str:
    settings = ablation_settings(config, wildcards.dataset, wildcards.method, wildcards.network, int(wildcards.epochs))
    return to_json(settings)


def ablation_checkpoint_argument(wildcards) -> str:
    """Its own checkpoint: an ablation run must never resume from the main run's."""
    if not config["training"]["checkpoint"]:
        return ""
    return (
        f"--checkpoint {RESULTS}/ablation/checkpoints/{wildcards.dataset}/{wildcards.network}/"
        f"{wildcards.method}/epochs{wildcards.epochs}/seed{wildcards.seed}.pt"
    )


# ---- Tables and figures (aggregate.smk, ablation.smk) -----------------------------------------
# Every table and figure lists the code that draws it as input: editing a plotting module
# rebuilds the figures (mtime), and never a run.


def code(*paths: str) -> list[Path]:
    # Relative to the working directory (Snakemake is already there while it parses): recorded
    # absolute, a copied checkout would have "Set of input files has changed" and redraw everything.
    import os

    return [Path(os.path.relpath(REPO / path)) for path in paths]


TABLE_CODE = code(
    "src/agem/report/tables.py",
    "src/agem/report/frames.py",
    "src/agem/report/labels.py",
    "src/agem/report/paper.py",
    "src/agem/report/paper_tables.py",
    "src/agem/report/memory_formulas.py",
    "src/agem/runs/metrics.py",
    "src/agem/runs/runfile.py",
    "scripts/make_tables.py",
    "scripts/aggregation_cli.py",
    "config/paper_results.yaml",
    "workflow/schemas/paper_results.schema.yaml",
)
FIGURE_CODE = code(
    "src/agem/report/figures.py",
    "src/agem/report/frames.py",
    "src/agem/report/labels.py",
    "src/agem/runs/metrics.py",
    "src/agem/report/paper.py",
    "src/agem/runs/runfile.py",
    "scripts/make_figures.py",
    "scripts/aggregation_cli.py",
)
SUMMARY_CODE = code(
    "src/agem/report/claims.py", "src/agem/report/paper.py", "scripts/make_summary.py", "config/paper_results.yaml"
)
STUDY_CODE = code("src/agem/report/studies.py", "scripts/make_sweep.py", "scripts/make_study.py")
# Every rule that reads runs also reads the ledger of missing runs, so that a deleted run is retrained.
# (A dry run before any real one has no ledger yet, and must not write one. With reuse_runs it is
# read but never rewritten: the same inputs in both modes, so that neither reruns the other's jobs.)
if Path(MISSING_RUNS_LEDGER).exists():
    TABLE_CODE, FIGURE_CODE, STUDY_CODE = (
        files + [MISSING_RUNS_LEDGER] for files in (TABLE_CODE, FIGURE_CODE, STUDY_CODE)
    )
GALLERY_CODE = code("src/agem/report/gallery.py", "scripts/make_gallery.py")
ABLATION_CODE = list(dict.fromkeys(FIGURE_CODE + TABLE_CODE))


def runs_of(artefact) -> list[str]:
    """The config's run files of the datasets an artefact shows."""
    shown = set(artefact_datasets(artefact, config["datasets"]))
    return [path for path in available(run_files()) if Path(path).parts[-4] in shown]


def drawn(artefact) -> bool:
    """A figure is requested only where it has runs to draw; the gallery lists the others as not run."""
    pairs = [(Path(path).parts[-4], Path(path).parts[-3]) for path in runs_of(artefact)]
    return has_runs(artefact, pairs, config["datasets"])


def captioned(path: str, stem: str, category: str):
    """An output that goes into `snakemake --report` with its caption, workflow/report/{stem}.rst."""
    return report(path, caption=str(REPORT_CAPTIONS / f"{stem}.rst"), category=category)


def artefact_outputs(artefact, folder: str, extensions: tuple[str, ...], category: str, in_report: bool = True) -> list:
    """The artefact's files; the first extension of each stem goes into the report with its caption
    (where ``in_report``: a table without runs of ours is left out of the report)."""
    outputs = []
    for stem in artefact.stems:
        first = f"{OUT}/{folder}/{stem}.{extensions[0]}"
        outputs.append(captioned(first, stem, category) if in_report else first)
        outputs += [f"{OUT}/{folder}/{stem}.{extension}" for extension in extensions[1:]]
    return outputs


MAIN_TABLE_FILES = [f"{OUT}/tables/{name}" for name in ("main.csv", "main.md", "main.tex", "metrics_per_seed.csv")]
PAPER_TABLE_CSVS = [f"{OUT}/tables/{artefact.stems[0]}.csv" for artefact in TABLES]
SUMMARY_FILES = [
    captioned(f"{OUT}/tables/{SUMMARY_STEM}.html", SUMMARY_STEM, "Reproduction summary"),
    f"{OUT}/tables/{SUMMARY_STEM}.md",
    f"{OUT}/tables/{SUMMARY_STEM}.csv",
]
ABLATION_FIGURE_FILES = [
    output
    for artefact in ABLATION_FIGURES
    for output in artefact_outputs(artefact, "figures", ("png", "pdf"), "Ablation")
]


onerror:
    # Stopped by SIGTERM/Ctrl-C, Snakemake reports a failure even if every job finished.
    if note := interrupted_run_note(log):
        print(note, file=sys.stderr)
