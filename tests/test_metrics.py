"""Metrics of paper §3 on hand-built accuracy tensors, checked against hand computations."""

import warnings

import numpy as np
import pytest

from agem.runs.metrics import (
    average_accuracy_per_task,
    forgetting_per_task,
    lca_curve,
    lca_eq5,
    lca_trapezoid,
    run_metrics,
    worst_case_forgetting,
    z_b,
)
from agem.runs.runfile import RunRecord

NAN = np.nan

# Row k: accuracies after task k. Task 0 gains after task 1 (0.9 -> 0.95): the forgetting max runs
# over all earlier rows, not only the row right after the task was learnt.
ACC_FINAL = np.array([
    [0.90, NAN, NAN],
    [0.95, 0.80, NAN],
    [0.50, 0.60, 0.90],
])
# Z_b = mean over the two tasks: Z_0 = 0.2, Z_1 = 0.5, Z_2 = 0.6, Z_3..Z_10 = 0.65.
ACC_LCA = np.array([
    [0.1, 0.5, 0.7] + [0.8] * 8,
    [0.3, 0.5, 0.5] + [0.5] * 8,
])


def make_run(acc_final=ACC_FINAL, acc_lca=ACC_LCA, method="agem", diverged=False) -> RunRecord:
    n_tasks = acc_final.shape[0]
    return RunRecord(dataset="mnist", method=method, seed=0, acc_final=acc_final, acc_lca=acc_lca,
                     violations=np.arange(n_tasks), train_seconds=12.5, memory_bytes=4096,
                     diverged=diverged)


def test_average_accuracy_per_task():
    # A_1 = 0.9, A_2 = (0.95 + 0.8) / 2, A_3 = (0.5 + 0.6 + 0.9) / 3
    np.testing.assert_allclose(average_accuracy_per_task(ACC_FINAL), [0.9, 0.875, 2.0 / 3])


def test_forgetting_per_task():
    # F_2 = 0.9 - 0.95 (negative: backward transfer)
    # F_3 = ((max(0.9, 0.95) - 0.5) + (0.8 - 0.6)) / 2 = (0.45 + 0.2) / 2
    np.testing.assert_allclose(forgetting_per_task(ACC_FINAL), [NAN, -0.05, 0.325])


def test_worst_case_forgetting():
    assert worst_case_forgetting(ACC_FINAL) == pytest.approx(0.45)  # max(0.45, 0.2)
    assert np.isnan(worst_case_forgetting(ACC_FINAL[:1, :1]))


def test_z_b_and_lca():
    np.testing.assert_allclose(z_b(ACC_LCA), [0.2, 0.5, 0.6] + [0.65] * 8)
    # Eq. 5: (0.2 + 0.5 + 0.6 + 8 * 0.65) / 11
    assert lca_eq5(ACC_LCA, 10) == pytest.approx(6.5 / 11)
    assert lca_eq5(ACC_LCA, 2) == pytest.approx(1.3 / 3)  # (0.2 + 0.5 + 0.6) / 3
    # Trapezoid: (0.2/2 + 0.5 + 0.6 + 7 * 0.65 + 0.65/2) / 10 = 6.075 / 10
    assert lca_trapezoid(ACC_LCA, 10) == pytest.approx(0.6075)
    assert lca_trapezoid(ACC_LCA, 1) == pytest.approx(0.35)  # (0.1 + 0.25) / 1
    assert lca_trapezoid(ACC_LCA, 2) == pytest.approx(0.45)  # (0.1 + 0.5 + 0.3) / 2
    curve = lca_curve(ACC_LCA)
    assert curve.shape == (11,)
    # beta = 0: Z_0; beta = 3: (0.1 + 0.5 + 0.6 + 0.325) / 3
    np.testing.assert_allclose(curve[:4], [0.2, 0.35, 0.45, 1.525 / 3])
    assert curve[10] == pytest.approx(0.6075)


def test_lca_rejects_bad_beta():
    with pytest.raises(ValueError):
        lca_trapezoid(ACC_LCA, 0)
    with pytest.raises(ValueError):
        lca_eq5(ACC_LCA, 11)


def test_run_metrics():
    metrics = run_metrics(make_run())
    assert metrics["A_T"] == pytest.approx(100 * (0.5 + 0.6 + 0.9) / 3)
    assert metrics["F_T"] == pytest.approx(0.325)
    assert metrics["F_wst"] == pytest.approx(0.45)
    assert metrics["LCA10"] == pytest.approx(0.6075)
    assert metrics["LCA10_eq5"] == pytest.approx(6.5 / 11)
    assert metrics["violations_total"] == 3  # 0 + 1 + 2
    assert metrics["train_seconds"] == 12.5
    assert metrics["memory_bytes"] == 4096
    assert metrics["diverged"] is False


def test_multitask_has_only_final_accuracy_and_no_warnings():
    acc_final = np.full((3, 3), NAN)
    acc_final[-1] = [0.7, 0.8, 0.9]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = run_metrics(make_run(acc_final, np.full((3, 11), NAN), method="multitask"))
        per_task = average_accuracy_per_task(acc_final)
    assert metrics["A_T"] == pytest.approx(80.0)  # 100 * (0.7 + 0.8 + 0.9) / 3
    for key in ("F_T", "F_wst", "LCA10", "LCA10_eq5"):
        assert np.isnan(metrics[key]), key
    assert np.isnan(per_task[:2]).all()


def test_diverged_run_reports_infinity():
    acc_final = np.full((3, 3), NAN)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = run_metrics(make_run(acc_final, np.full((3, 11), NAN), method="pi", diverged=True))
    for key in ("A_T", "F_T", "F_wst", "LCA10", "LCA10_eq5"):
        assert metrics[key] == np.inf, key
    assert metrics["diverged"] is True
