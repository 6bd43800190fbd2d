"""The Snakemake workflow itself: fan-out, config validation, and a tiny end-to-end run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from agem.runs.runfile import read_run
from helpers.workflow import REPO, TINY_CONFIG, job_counts, snakemake, write_config


def test_dry_run_has_one_training_job_per_dataset_method_seed(tmp_path):
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    result = snakemake(tmp_path, "-n", "--cores", "1")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout + result.stderr)
    # A benchmark's own `methods` filters the top-level list (no iCaRL on Permuted MNIST, as in the paper).
    methods = {d: [m for m in default["methods"] if m in default["benchmarks"][d].get("methods", default["methods"])]
               for d in default["datasets"]}
    assert counts["train"] == sum(len(methods[d]) for d in default["datasets"]) * len(default["seeds"])
    assert counts["build_stream"] == len(default["datasets"]) * len(default["seeds"])
    assert counts["tables"] == counts["figures"] == 1
    # The default benchmarks are the paper's MNIST/CIFAR kind: Figs. 1, 3, 6 have runs to draw;
    # Figs. 2, 4, 5 (CUB, AWA) have none, so they are not requested (the gallery says "not run").
    assert {"fig1", "fig3", "fig6"} <= set(counts) and not {"fig2", "fig4", "fig5"} & set(counts)

    narrowed = snakemake(tmp_path, "-n", "--cores", "1", "--config", "methods=[van,agem]", "seeds=[1234]")
    assert narrowed.returncode == 0, narrowed.stderr
    assert job_counts(narrowed.stdout + narrowed.stderr)["train"] == len(default["datasets"]) * 2 * 1  # both run everywhere
    without_gem = snakemake(tmp_path, "-n", "--cores", "1", "--config", "methods=[van,ewc]")
    assert "fig6" not in job_counts(without_gem.stdout + without_gem.stderr)  # no constraint to violate


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"bogus_key": 1}, "bogus_key"),
        ({"trainning": {"epochs": 2}}, "trainning: not a config key; did you mean 'training'?"),
        ({"training": {"epochz": 2}}, "training.epochz: not a config key; did you mean 'epochs'?"),
        ({"device": "gpu"}, "device: 'gpu' does not match"),
        ({"seeds": [-1]}, "seeds"),
        ({"methods": ["van", "no_such_method"]}, "no_such_method"),
        ({"datasets": ["no_such_benchmark"]}, "no_such_benchmark"),
        ({"hparams": {"permuted_mnist5k": {"agem": {"lrr": 0.1}}}}, "hparams.permuted_mnist5k.agem"),
        ({"training": {"batch_size": 0}}, "batch_size"),
    ],
)
def test_bad_config_stops_before_any_job_and_names_the_key(tmp_path, override, named):
    config = write_config(tmp_path / "bad.yaml", override)
    result = snakemake(tmp_path, "-n", "--cores", "1", "--configfile", str(config))
    assert result.returncode != 0
    printed = result.stdout + result.stderr
    assert named in printed
    # The one useful line, not the schema and the merged config (770 lines before).
    assert len(printed.splitlines()) <= 10, printed
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_tiny_end_to_end_run_writes_tables_and_figures_deterministically(tmp_path):
    outputs = []
    for name in ("first", "second"):
        workdir = tmp_path / name
        workdir.mkdir()
        config = write_config(workdir / "tiny.yaml", TINY_CONFIG)
        result = snakemake(workdir, "--cores", "2", "--configfile", str(config))
        assert result.returncode == 0, result.stdout + result.stderr
        outputs.append(workdir / "results")

    results = outputs[0]
    main = pd.read_csv(results / "tiny" / "tables" / "main.csv")  # the experiment is named after tiny.yaml
    assert list(main.columns[:11]) == [
        "dataset", "method", "n_seeds", "A_T_mean", "A_T_std", "F_T_mean", "F_T_std",
        "LCA10_mean", "LCA10_std", "train_seconds_mean", "memory_bytes",
    ]
    assert list(zip(main.dataset, main.method)) == [
        ("permuted_digits", "van"), ("permuted_digits", "agem"), ("split_digits", "van"), ("split_digits", "agem"),
    ]
    assert (main.n_seeds == 1).all()
    for stem in ("fig1_bars", "fig3_accuracy_vs_tasks", "fig3_lca_vs_beta", "fig6_violations"):
        assert (results / "tiny" / "figures" / f"{stem}.png").stat().st_size > 10_000
        assert (results / "tiny" / "figures" / f"{stem}.pdf").read_bytes().startswith(b"%PDF")

    run = read_run(next((results / "runs" / "permuted_digits" / "agem").glob("*/seed7.h5")))
    assert run.acc_final.shape == (3, 3)  # the 3 evaluation tasks; the CV task is not trained on
    assert run.config["hparams"] == {"lr": 0.1, "ref_batch_size": 256}
    assert run.versions["torch"]
    # The same config and seed give the same accuracies, run after run (CPU).
    for dataset in TINY_CONFIG["datasets"]:
        for method in TINY_CONFIG["methods"]:
            first, second = (read_run(next((r / "runs" / dataset / method).glob("*/seed7.h5"))) for r in outputs)
            np.testing.assert_array_equal(first.acc_final, second.acc_final)
            np.testing.assert_array_equal(first.acc_lca, second.acc_lca)

    again = snakemake(tmp_path / "first", "--cores", "2", "--configfile", str(tmp_path / "first" / "tiny.yaml"))
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr
