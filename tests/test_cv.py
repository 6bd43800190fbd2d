"""The paper's hyper-parameter protocol (Alg. 1): grid on the CV tasks, argmax, evaluation runs use it."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from agem.pipeline.config import ConfigError, check_config
from agem.runs.runfile import RunRecord, read_run, write_run
from agem.training.cv import (
    grid_points,
    point_id,
    read_selected_hparams,
    select,
    write_selection,
)
from helpers.workflow import job_counts, snakemake, write_config


def config_with(grid: dict) -> dict:
    return {
        "cv_grid": grid,
        "hparams": {"digits": {"agem": {"lr": 0.1, "ref_batch_size": 256}, "van": {"lr": 0.03}}},
    }


def test_grid_points_cover_the_product_of_the_method_axes():
    grid = {"lr": [0.1, 0.01], "ref_batch_size": [64, 256], "lam": {"ewc": [1, 10]}}
    points = grid_points(config_with(grid), "digits", "agem")
    assert points == {
        "lr0.1-ref_batch_size64": {"lr": 0.1, "ref_batch_size": 64},
        "lr0.1-ref_batch_size256": {"lr": 0.1, "ref_batch_size": 256},
        "lr0.01-ref_batch_size64": {"lr": 0.01, "ref_batch_size": 64},
        "lr0.01-ref_batch_size256": {"lr": 0.01, "ref_batch_size": 256},
    }
    # VAN has no ref_batch_size and is not named under lam: only the lr axis applies.
    assert grid_points(config_with(grid), "digits", "van") == {"lr0.1": {"lr": 0.1}, "lr0.01": {"lr": 0.01}}
    assert point_id({"lr": 0.0003}) == "lr0.0003"


def run_with_accuracy(path, final_row: list[float], diverged: bool = False):
    n = len(final_row)
    # Every trained entry filled (a run file holds no NaN below the diagonal); only the last row counts.
    acc = np.where(np.tri(n, dtype=bool), np.asarray(final_row)[None, :], np.nan)
    write_run(path, RunRecord("digits", "van", 1, acc, np.full((n, 11), np.nan), np.zeros(n, dtype=np.int64), 1.0, 1,
                              diverged=diverged, diverged_step=0 if diverged else -1))
    return path


def test_selection_is_the_argmax_of_the_mean_cv_accuracy(tmp_path):
    points = {"lr0.3": {"lr": 0.3}, "lr0.1": {"lr": 0.1}, "lr0.01": {"lr": 0.01}}
    runs = {
        "lr0.3": [run_with_accuracy(tmp_path / "a1.h5", [0.9, 0.9, 0.9], diverged=True)],  # diverged: never chosen
        "lr0.1": [run_with_accuracy(tmp_path / "b1.h5", [0.5, 0.6, 0.7]), run_with_accuracy(tmp_path / "b2.h5", [0.7, 0.8, 0.9])],
        "lr0.01": [run_with_accuracy(tmp_path / "c1.h5", [0.9, 0.6, 0.6]), run_with_accuracy(tmp_path / "c2.h5", [0.6, 0.6, 0.6])],
    }
    selection = select(points, runs)
    # lr0.1: mean of A = (0.6 + 0.8) / 2 = 0.7; lr0.01: (0.7 + 0.6) / 2 = 0.65.
    assert selection["selected_point"] == "lr0.1" and selection["selected"] == {"lr": 0.1}
    scores = {c["point"]: c["A_mean"] for c in selection["candidates"]}
    assert scores["lr0.1"] == pytest.approx(0.7) and scores["lr0.01"] == pytest.approx(0.65) and scores["lr0.3"] == -np.inf
    write_selection(tmp_path / "van.yaml", "digits", "van", selection)
    assert read_selected_hparams(tmp_path / "van.yaml") == {"lr": 0.1}


def test_ties_go_to_the_first_point_and_all_diverged_is_an_error(tmp_path):
    points = {"lr0.1": {"lr": 0.1}, "lr0.01": {"lr": 0.01}}
    same = {p: [run_with_accuracy(tmp_path / f"{p}.h5", [0.5, 0.5])] for p in points}
    assert select(points, same)["selected_point"] == "lr0.1"
    diverged = {p: [run_with_accuracy(tmp_path / f"d{p}.h5", [0.5, 0.5], diverged=True)] for p in points}
    with pytest.raises(ValueError, match="every grid point diverged"):
        select(points, diverged)


def test_a_selection_file_without_a_choice_is_refused(tmp_path):
    (tmp_path / "bad.yaml").write_text("dataset: digits\n")
    with pytest.raises(ValueError, match="no 'selected' key"):
        read_selected_hparams(tmp_path / "bad.yaml")


def test_cross_validation_needs_cv_tasks():
    config = yaml.safe_load(open("config/config.yaml"))
    config["hparam_selection"] = "cross_validate"
    config["datasets"] = ["split_digits"]
    config["benchmarks"]["split_digits"]["n_cv_tasks"] = 0
    with pytest.raises(ConfigError, match="benchmarks.split_digits.n_cv_tasks is 0"):
        check_config(config)


@pytest.mark.slow
def test_workflow_selects_on_cv_tasks_and_evaluation_runs_use_the_choice(tmp_path):
    config = write_config(tmp_path / "cv.yaml", {
        "datasets": ["permuted_digits"],
        "methods": ["van"],
        "seeds": [7],
        "cv_seeds": [7, 8],
        "hparam_selection": "cross_validate",
        "cv_grid": {"lr": [0.3, 0.01, 0.0001]},
        "benchmarks": {"permuted_digits": {"n_tasks": 4, "n_cv_tasks": 2, "memory_per_task": 50}},
    })
    # The main table's target: the selection and the evaluation run are under test, not the figures.
    dry = snakemake(tmp_path, "-n", "tables", "--cores", "1", "--configfile", str(config))
    assert job_counts(dry.stdout)["cv_train"] == 6  # 3 grid points × 2 CV seeds
    result = snakemake(tmp_path, "tables", "--cores", "2", "--configfile", str(config))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    cv = tmp_path / "results" / "cv" / "permuted_digits"
    # Independently of agem.training.cv: A at the end of the 2 CV tasks, averaged over the CV seeds.
    scores = {}
    for point in ("lr0.3", "lr0.01", "lr0.0001"):
        runs = [read_run(cv / "van" / point / f"seed{seed}.h5") for seed in (7, 8)]
        assert all(r.acc_final.shape == (2, 2) for r in runs)  # trained on the 2 CV tasks only
        scores[point] = np.mean([np.mean(r.acc_final[-1, :2]) for r in runs])
    best = max(scores, key=scores.get)
    selection = yaml.safe_load((cv / "van.yaml").read_text())
    assert selection["selected_point"] == best
    (evaluation_path,) = (tmp_path / "results" / "runs" / "permuted_digits" / "van").glob("*/seed7.h5")  # its identity's path
    evaluation = read_run(evaluation_path)
    # The run records what it trained with beside its identity (whose hparams are the config's, the grid's base).
    assert evaluation.config["hparams_selected"] == selection["selected"] == {"lr": float(best[2:])}
    assert evaluation.acc_final.shape == (2, 2)  # the 2 evaluation tasks, disjoint from the CV ones
