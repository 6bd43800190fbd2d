"""Run identities end to end: a hyper-parameter variant trains only its own runs into its own result
set, a deleted run is retrained every time, a request that runs nowhere is refused before any job,
and a sweep trains only its extra points.

Each test works on a tiny pipeline (split digits, 3 tasks, VAN and A-GEM, one seed). Those that must
see "nothing rerun" run a copy of the workflow (helpers.workflow.copy_checkout), so that someone
editing the checkout's code meanwhile (an input of the tables) cannot rerun anything. That pipeline
is trained once for the module (`trained`) and each test starts from a `cp -a` copy of it, which
has nothing to rerun (tests/test_copied_checkout.py)."""

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from agem.runs.runfile import read_run
from helpers.workflow import REPO, copy_checkout, fingerprints, job_counts, jobs_run, snakemake, write_config

pytestmark = pytest.mark.slow

CONFIG = {
    "datasets": ["split_digits"],
    "methods": ["van", "agem"],
    "seeds": [7],
    "benchmarks": {"split_digits": {"n_tasks": 3, "memory_per_task": 20}},
}
# config/config.yaml's A-GEM on split digits is {lr: 0.03, ref_batch_size: 256}: only lr differs.
VARIANT = "hparams={split_digits: {agem: {lr: 0.3, ref_batch_size: 256}}}"


def run(workdir: Path, *args: str, snakefile: Path | None = None) -> str:
    """Snakemake on ``workdir`` (with the copy's Snakefile where given); it must succeed."""
    started = time.monotonic()
    result = snakemake(workdir, "--cores", "2", *args, **({"snakefile": snakefile} if snakefile else {}))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    print(f"{time.monotonic() - started:.1f} s: snakemake {' '.join(args)}")
    return output


def checkout_with_config(tmp_path: Path, config: dict) -> tuple[Path, Path]:
    """(the Snakefile of a copy of the workflow in tmp_path, its tiny.yaml: experiment 'tiny')."""
    snakefile = copy_checkout(tmp_path / "checkout")
    return snakefile, write_config(snakefile.parent / "tiny.yaml", config)


def run_files(results: Path, method: str) -> list[Path]:
    return sorted((results / "runs" / "split_digits" / method).glob("*/seed7.h5"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A workflow copy whose base tables were built: its two runs trained, experiment 'tiny'."""
    snakefile, config = checkout_with_config(tmp_path_factory.mktemp("trained"), CONFIG)
    base = run(snakefile.parent, "tables", "--configfile", str(config), snakefile=snakefile)
    assert jobs_run(base).get("train") == 2, base
    return snakefile.parent


def copy_of(trained: Path, target: Path) -> tuple[Path, Path]:
    """(Snakefile, tiny.yaml) of a `cp -a` copy of the trained checkout at ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(trained), str(target)], check=True)
    return target / "Snakefile", target / "tiny.yaml"


def test_a_variant_trains_only_its_own_runs_into_its_own_result_set(trained, tmp_path):
    snakefile, config = copy_of(trained, tmp_path / "checkout")
    checkout, results = snakefile.parent, snakefile.parent / "results"
    base_tables = fingerprints(results / "tiny" / "tables")
    base_main = (results / "tiny" / "tables" / "main.csv").read_bytes()
    (van,), (base_agem,) = run_files(results, "van"), run_files(results, "agem")
    van_before = fingerprints(van.parent)

    variant = run(checkout, "tables", "--configfile", str(config), "--config", VARIANT, snakefile=snakefile)
    assert jobs_run(variant).get("train") == 1, variant  # A-GEM's variant only: VAN's run is the base's
    assert fingerprints(van.parent) == van_before  # not retrained: same bytes, same time
    assert fingerprints(results / "tiny" / "tables") == base_tables  # the base's set is not touched
    (variant_set,) = [p for p in results.iterdir() if p.name.startswith("tiny-")]
    main = pd.read_csv(variant_set / "tables" / "main.csv")
    assert list(main["method"]) == ["van", "agem"]
    agem_files = run_files(results, "agem")
    assert len(agem_files) == 2 and base_agem in agem_files
    (variant_agem,) = [p for p in agem_files if p != base_agem]
    assert variant_agem.parent.name.startswith("lr0.3_ref_batch_size256-")
    assert read_run(variant_agem).config["hparams"] == {"lr": 0.3, "ref_batch_size": 256}
    assert read_run(base_agem).config["hparams"] == {"lr": 0.03, "ref_batch_size": 256}

    # The documented rebuild (docs/reproduction.md#reuse-runs) of the base, its tables forced to be
    # redrawn from the run files: the same bytes, so it read the base's A-GEM run, not the variant's.
    rebuild = run(checkout, "tables", "--configfile", str(config), "--config", "reuse_runs=true", "--forcerun", "tables",
                  snakefile=snakefile)
    assert "tables" in jobs_run(rebuild) and "train" not in jobs_run(rebuild)
    assert (results / "tiny" / "tables" / "main.csv").read_bytes() == base_main
    assert all(path.is_file() for path in agem_files)
    assert fingerprints(van.parent) == van_before


@pytest.mark.parametrize("experiment", [[], ["--config", "experiment=base"]], ids=["named_by_the_file", "named_experiment"])
def test_a_deleted_run_is_retrained_every_time(trained, tmp_path, experiment):
    snakefile, config = copy_of(trained, tmp_path / "checkout")
    checkout, results = snakefile.parent, snakefile.parent / "results"
    args = ["tables", "--configfile", str(config), *experiment]
    assert "train" not in jobs_run(run(checkout, *args, snakefile=snakefile))  # the trained copy's runs serve
    assert (results / ("base" if experiment else "tiny") / "tables" / "main.csv").is_file()
    (van,) = run_files(results, "van")
    for deletion in ("first", "second"):
        van.unlink()
        again = run(checkout, *args, snakefile=snakefile)
        assert jobs_run(again).get("train") == 1, f"{deletion} deletion: not retrained\n{again}"
        assert "tables" in jobs_run(again) and van.is_file()
    unchanged = run(checkout, *args, snakefile=snakefile)
    assert "Nothing to be done" in unchanged, unchanged


def test_a_method_that_runs_on_no_selected_benchmark_is_refused_before_any_job(tmp_path):
    benchmark = {**CONFIG["benchmarks"]["split_digits"], "methods": ["van", "agem"]}
    config = write_config(tmp_path / "tiny.yaml", {**CONFIG, "methods": ["van", "agem", "gem"], "benchmarks": {"split_digits": benchmark}})
    result = snakemake(tmp_path, "--cores", "2", "--configfile", str(config))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "methods: 'gem' runs on no selected benchmark (benchmarks.split_digits.methods is ['van', 'agem'])" in output
    assert "Traceback (most recent call last)" not in output
    assert not (tmp_path / "results").exists()


def test_a_sweep_trains_only_its_extra_points_and_writes_its_table(tmp_path):
    sweep = {"dataset": "split_digits", "method": "agem", "grid": {"lr": [0.03, 0.3]}}
    config = write_config(tmp_path / "tiny.yaml", {**CONFIG, "sweeps": {"agem_lr": sweep}})
    plan = run(tmp_path, "-n", "--configfile", str(config))
    # VAN, A-GEM at lr 0.03 (the main run and the sweep's first point: one run) and at lr 0.3.
    assert job_counts(plan)["train"] == 3, plan
    assert not (tmp_path / "results" / "runs").exists()  # a dry run trains nothing

    built = run(tmp_path, "sweeps", "--configfile", str(config))
    assert jobs_run(built).get("train") == 2  # the sweep needs A-GEM only
    out = tmp_path / "results" / "tiny" / "sweeps"
    assert {p.name for p in out.iterdir()} == {"agem_lr.csv", "agem_lr.md", "agem_lr.png", "agem_lr.pdf"}
    table = pd.read_csv(out / "agem_lr.csv")
    assert table["lr"].tolist() == [0.03, 0.3] and table["n_seeds"].tolist() == [1, 1]
    assert table["A_T_mean"].between(0, 100).all() and table["A_T_std"].tolist() == [0.0, 0.0]


def test_received_runs_stay_as_received_when_a_variant_rebuilds_their_stream(trained, tmp_path):
    """A bundle's runs arrive without their streams. A variant needs the stream for its own job;
    rebuilding it must not retrain (and overwrite) the received runs (run_plan.stream_dependency)."""
    made_snakefile, made_config = copy_of(trained, tmp_path / "made")
    made = run(made_snakefile.parent, "bundle", "--configfile", str(made_config), snakefile=made_snakefile)
    assert "train" not in jobs_run(made)
    bundle = made_snakefile.parent / "results" / "tiny" / "bundle" / "agem-results.tar.gz"

    snakefile, config = checkout_with_config(tmp_path / "received", CONFIG)
    receiver = snakefile.parent
    imported = subprocess.run([sys.executable, str(REPO / "scripts" / "bundle.py"), "import", str(bundle), "--into", str(receiver)],
                              capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr
    assert not (receiver / "results" / "streams").exists()
    received = fingerprints(receiver / "results" / "runs")

    variant = run(receiver, "tables", "--configfile", str(config), "--config", VARIANT, snakefile=snakefile)
    assert jobs_run(variant).get("train") == 1  # the variant's A-GEM only
    after = fingerprints(receiver / "results" / "runs")
    assert {name: after[name] for name in received} == received and len(after) == len(received) + 1
    # A forced rerun still gets its stream (and would retrain them): planned, not run.
    forced = run(receiver, "-n", "tables", "--configfile", str(config), "--forcerun", "train", snakefile=snakefile)
    assert job_counts(forced)["train"] == 2, forced
