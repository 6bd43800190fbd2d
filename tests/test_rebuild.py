"""End to end on a tiny config: every table and figure of the paper, the documented no-retrain
rebuild after a plotting module changes, `snakemake --report`, the results bundle round trip
into a fresh folder, and the optional epochs ablation.

The workflow runs from a copy of the repository's workflow files, so that touching a plotting
module here never changes a tracked file (the scripts still import the installed `agem`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from agem.report.paper import ARTEFACTS, SUMMARY_STEM, TABLES
from helpers.workflow import TINY_CONFIG, job_counts
from helpers.workflow import copy_checkout as copy_workflow
from helpers.workflow import snakemake as run_snakemake

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
# The documented command (docs/reproduction.md#reuse-runs).
REBUILD = ("artefacts", "--cores", "2", "--config", "reuse_runs=true")
CONFIG = {**TINY_CONFIG, "datasets": ["permuted_digits"]}
# The tiny config's result set (named after tiny.yaml); the runs are shared under results/runs.
EXPERIMENT = "tiny"
TABLE_FILES = [f"tables/{stem}.{ext}" for a in TABLES for stem in a.stems for ext in ("html", "csv", "md", "tex")]
# Permuted digits is of the MNIST/CIFAR kind: Figs. 1, 3, 6 have runs; Figs. 2, 4, 5 (CUB, AWA) none.
DRAWN, NOT_RUN = ("fig1", "fig3", "fig6"), ("fig2", "fig4", "fig5")
FIGURE_FILES = [f"figures/{stem}.{ext}" for name in DRAWN for stem in ARTEFACTS[name].stems for ext in ("png", "pdf")]
ARTEFACT_FILES = TABLE_FILES + FIGURE_FILES + [f"tables/{SUMMARY_STEM}.{ext}" for ext in ("md", "csv")] + ["figures/README.md"]


def snakemake(snakefile: Path, workdir: Path, *args: str) -> str:
    """Run the copied workflow; it must succeed. Returns what Snakemake printed."""
    started = time.monotonic()
    result = run_snakemake(workdir, *args, snakefile=snakefile)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    print(f"{time.monotonic() - started:.1f}s snakemake {' '.join(args)}")
    return output


def ran(output: str) -> dict[str, int]:
    """Jobs per rule of a Snakemake run (none when it had nothing to do)."""
    counts = job_counts(output) if "Job stats:" in output else {}
    counts.pop("total", None)
    return counts


def mtimes(folder: Path, names) -> dict[str, int]:
    return {name: (folder / name).stat().st_mtime_ns for name in names}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, Path, Path]:
    """The tiny pipeline run once: (Snakefile of the workflow copy, work folder, config file)."""
    tmp = tmp_path_factory.mktemp("rebuild")
    snakefile = copy_workflow(tmp / "repo")
    workdir = tmp / "run"
    workdir.mkdir()
    config = workdir / "tiny.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    snakemake(snakefile, workdir, "--cores", "2", "--configfile", str(config))
    return snakefile, workdir, config


def test_every_artefact_is_built(project):
    _, workdir, _ = project
    results = workdir / "results" / EXPERIMENT
    for name in ARTEFACT_FILES:
        assert (results / name).stat().st_size > 0, name
    assert not (results / "figures" / "fig7_epochs_accuracy.png").exists()  # the ablation is not in `all`
    not_run = [stem for name in NOT_RUN for stem in ARTEFACTS[name].stems]
    assert not any((results / "figures" / f"{stem}.png").exists() for stem in not_run)  # no empty figures
    gallery = (results / "figures" / "README.md").read_text(encoding="utf-8")
    assert "## Not run" in gallery and all(stem in gallery for stem in not_run)
    for name in FIGURE_FILES:
        if name.endswith(".png"):
            assert (np.asarray(Image.open(results / name).convert("L")) < 128).mean() > 0.002, name
    table4 = pd.read_csv(results / "tables" / "table4_mnist_cifar.csv")
    digits = table4[table4.dataset == "permuted_digits"]
    assert set(digits.method) == {"van", "agem"} and set(digits.verdict) == {"no paper value"}
    assert set(table4[table4.dataset == "permuted_mnist"].verdict) <= {"not run", "no paper value"}


def test_rebuild_after_editing_a_plotting_module_trains_nothing(project):
    snakefile, workdir, config = project
    results = workdir / "results"
    runs = [p.relative_to(results).as_posix() for p in results.glob("runs/*/*/*/*.h5")]
    artefacts = [f"{EXPERIMENT}/{name}" for name in FIGURE_FILES + TABLE_FILES]
    before = mtimes(results, artefacts + runs)
    # Edit a plotting module (of the workflow copy). Snakemake reruns a job whose input is newer
    # and whose content changed: a bare touch of an unchanged file is not enough.
    plotting = snakefile.parent / "src" / "agem" / "report" / "figures.py"
    plotting.write_text(plotting.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    later = time.time() + 1
    os.utime(plotting, (later, later))

    output = snakemake(snakefile, workdir, *REBUILD, "--configfile", str(config))
    jobs = ran(output)
    assert not {"train", "build_stream", "cv_train"} & set(jobs), jobs
    assert set(DRAWN) <= set(jobs) and not set(NOT_RUN) & set(jobs), jobs
    assert not {a.name for a in TABLES} & set(jobs), jobs  # tables do not depend on figures.py
    after = mtimes(results, artefacts + runs)
    assert all(after[f"{EXPERIMENT}/{name}"] > before[f"{EXPERIMENT}/{name}"] for name in FIGURE_FILES)
    assert all(after[name] == before[name] for name in [f"{EXPERIMENT}/{name}" for name in TABLE_FILES] + runs)
    # The rebuild leaves the ordinary pipeline up to date: nothing to train, nothing to redraw.
    assert "Nothing to be done" in snakemake(snakefile, workdir, "--cores", "2", "--configfile", str(config))


def test_report_bundles_every_artefact_with_its_caption(project):
    snakefile, workdir, config = project
    report = workdir / "report.html"
    snakemake(snakefile, workdir, "--cores", "1", "--configfile", str(config), "--report", str(report))
    html = report.read_text(encoding="utf-8", errors="replace")
    # The readable tables (HTML), the main table among them, not the long CSVs.
    for name in FIGURE_FILES + [f"tables/{a.stems[0]}.html" for a in TABLES] + ["tables/main.html"]:
        if not name.endswith(".pdf"):
            assert Path(name).name in html, name
    assert "Table 4 of the paper" in html and "Figure 6 of the paper" in html


def test_bundle_round_trip_rebuilds_everything_in_a_fresh_folder_without_training(project, tmp_path):
    snakefile, workdir, config = project
    output = snakemake(snakefile, workdir, "bundle", "--cores", "1", "--configfile", str(config))
    assert set(ran(output)) == {"bundle"}
    bundle = workdir / "results" / EXPERIMENT / "bundle" / "agem-results.tar.gz"

    fresh = tmp_path / "fresh"  # a fresh clone: no results, no streams, no Snakemake metadata
    imported = subprocess.run([sys.executable, str(REPO / "scripts" / "bundle.py"), "import", str(bundle),
                               "--into", str(fresh)], capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr
    assert "--config reuse_runs=true" in imported.stdout
    output = snakemake(snakefile, fresh, "artefacts", "--cores", "2", "--configfile",
                       str(fresh / "results" / "imported" / "config.yaml"), "--config", "reuse_runs=true")
    assert not {"train", "build_stream", "download", "build_images"} & set(ran(output))
    assert not (fresh / "results" / "streams").exists()
    # The bundle's config names the experiment: the tables come back in the same folder.
    for name in ARTEFACT_FILES:
        assert (fresh / "results" / EXPERIMENT / name).is_file(), name
    for name in ("tables/main.csv", "tables/table4_mnist_cifar.csv", "tables/table2_memory_vs_test.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(fresh / "results" / EXPERIMENT / name), pd.read_csv(workdir / "results" / EXPERIMENT / name))
    snakemake(snakefile, fresh, "--cores", "1", "--configfile", str(fresh / "results" / "imported" / "config.yaml"),
              "--config", "reuse_runs=true", "--report", str(fresh / "report.zip"))
    assert (fresh / "report.zip").stat().st_size > 10_000


def test_epochs_ablation_is_optional_and_writes_apart(project):
    snakefile, workdir, config = project
    ablation = workdir / "ablation.yaml"
    ablation.write_text(yaml.safe_dump({"ablation": {"datasets": ["permuted_digits"], "methods": ["van"], "epochs": [1, 2]}}))
    output = snakemake(snakefile, workdir, "ablation_epochs", "--cores", "2", "--configfile", str(config), str(ablation))
    # 2 networks × 1 method × 2 epochs × 1 seed, and nothing of the main pipeline.
    assert ran(output) == {"train_ablation": 4, "ablation_epochs": 1}
    # The last config file names the result set; ablation.yaml is a shared folder's name, so it gets a suffix.
    frame = pd.read_csv(workdir / "results" / "ablation_experiment" / "tables" / "ablation_epochs.csv")
    assert sorted(zip(frame.network, frame.epochs)) == [("big", 1), ("big", 2), ("small", 1), ("small", 2)]
    runs = sorted(p.relative_to(workdir / "results").as_posix() for p in (workdir / "results" / "ablation").rglob("*.h5"))
    assert runs[0] == "ablation/runs/permuted_digits/big/van/epochs1/seed7.h5"
    for stem in ("fig7_epochs_accuracy", "fig8_epochs_forgetting"):
        assert (workdir / "results" / "ablation_experiment" / "figures" / f"{stem}.png").stat().st_size > 10_000
