"""Every metric of paper §3 and Table 2 (agem.runs.metrics) on a hand-made 4-task accuracy matrix
built so that a wrong row, column, max, min or mean gives a different number.

tests/test_metrics.py uses 3 tasks, where the row right after a task is also the best earlier
row; here each forgetting term's best earlier accuracy sits in a different row (not the previous
row, not the diagonal), every term differs, and the upper triangle (future tasks, evaluated with
``evaluate_future_tasks``) holds values a wrong slice would pick up. Every expected number is
worked out by hand in the comments.
"""

import numpy as np
import pytest

from agem.runs.metrics import (
    average_accuracy_per_task,
    forgetting_per_task,
    lca_eq5,
    lca_trapezoid,
    memory_metrics,
    run_metrics,
    stored_tasks_only,
    worst_case_forgetting,
    z_b,
)
from agem.runs.runfile import RunRecord

NAN = np.nan

# acc[k, j]: accuracy on task j after training on task k. Upper triangle: future tasks (≈ chance).
ACC = np.array([
    [0.60, 0.11, 0.12, 0.13],
    [0.90, 0.70, 0.14, 0.15],  # task 0 gains after task 1: its best is row 1, not its own row 0
    [0.50, 0.80, 0.75, 0.16],  # task 1 gains after task 2: its best is row 2
    [0.40, 0.35, 0.55, 0.85],
])
ACC_PAST_ONLY = np.where(np.tri(4, dtype=bool), ACC, NAN)  # the same run without future evaluation

# Forgetting f_j^k = max_{l<k} a[l, j] − a[k, j]:
#   k = 1: j=0: 0.60 − 0.90 = −0.30
#   k = 2: j=0: max(0.60, 0.90) − 0.50 = 0.40;  j=1: 0.70 − 0.80 = −0.10          → F_2 = 0.15
#   k = 3: j=0: max(0.60, 0.90, 0.50) − 0.40 = 0.50   (previous row only: 0.10; own row: 0.20)
#          j=1: max(0.70, 0.80) − 0.35 = 0.45          (own row: 0.35)
#          j=2: 0.75 − 0.55 = 0.20                     → F_3 = 1.15 / 3, F_wst = 0.50
EXPECTED_A = [0.60, (0.90 + 0.70) / 2, (0.50 + 0.80 + 0.75) / 3, (0.40 + 0.35 + 0.55 + 0.85) / 4]
EXPECTED_F = [NAN, -0.30, 0.15, 1.15 / 3]
EXPECTED_F_WST = 0.50

# a[k, b, k]: accuracy on task k after its b-th batch; Z_b is the mean over tasks (a column mean).
ACC_LCA = np.array([
    [0.1, 0.3, 0.5, 0.6, 0.7],
    [0.2, 0.2, 0.4, 0.8, 0.9],
    [0.0, 0.5, 0.6, 0.6, 0.5],
    [0.1, 0.2, 0.5, 0.6, 0.7],
])
EXPECTED_Z = [0.1, 0.3, 0.5, 0.65, 0.7]  # column sums 0.4, 1.2, 2.0, 2.6, 2.8 over 4 tasks

# Accuracy on each task's episodic memory; entries above the diagonal (memories not yet stored)
# are garbage the Table 2 metrics must ignore, chosen high enough to change F_wst if used.
ACC_MEMORY = np.array([
    [0.80, 0.99, 0.99, 0.99],
    [0.70, 0.75, 0.99, 0.99],
    [0.85, 0.60, 0.65, 0.99],
    [0.50, 0.55, 0.45, 0.95],
])
# A_T = 100·(0.50 + 0.55 + 0.45 + 0.95)/4 = 61.25. f_j: j=0: max(0.80, 0.70, 0.85) − 0.50 = 0.35,
# j=1: max(0.75, 0.60) − 0.55 = 0.20 (0.44 with the garbage 0.99), j=2: 0.65 − 0.45 = 0.20 → F_wst = 0.35.


@pytest.mark.parametrize("acc", [ACC, ACC_PAST_ONLY], ids=["future-evaluated", "past-only"])
def test_average_accuracy_uses_row_k_columns_up_to_k(acc):
    np.testing.assert_allclose(average_accuracy_per_task(acc), EXPECTED_A, rtol=0, atol=1e-12)


@pytest.mark.parametrize("acc", [ACC, ACC_PAST_ONLY], ids=["future-evaluated", "past-only"])
def test_forgetting_uses_the_best_of_all_earlier_rows(acc):
    np.testing.assert_allclose(forgetting_per_task(acc), EXPECTED_F, rtol=0, atol=1e-12)
    assert worst_case_forgetting(acc) == pytest.approx(EXPECTED_F_WST, abs=1e-12)


def test_z_b_is_the_mean_over_tasks_and_lca_its_area():
    np.testing.assert_allclose(z_b(ACC_LCA), EXPECTED_Z, rtol=0, atol=1e-12)
    assert lca_eq5(ACC_LCA, 4) == pytest.approx(2.25 / 5, abs=1e-12)  # (0.1 + 0.3 + 0.5 + 0.65 + 0.7)/5
    assert lca_eq5(ACC_LCA, 3) == pytest.approx(1.55 / 4, abs=1e-12)
    assert lca_trapezoid(ACC_LCA, 4) == pytest.approx(1.85 / 4, abs=1e-12)  # (0.05 + 0.3 + 0.5 + 0.65 + 0.35)/4
    assert lca_trapezoid(ACC_LCA, 2) == pytest.approx(0.6 / 2, abs=1e-12)  # (0.05 + 0.3 + 0.25)/2
    assert lca_trapezoid(ACC_LCA, 1) == pytest.approx(0.2, abs=1e-12)  # (0.05 + 0.15)/1


def test_memory_metrics_ignore_memories_not_yet_stored():
    stored = stored_tasks_only(ACC_MEMORY)
    assert np.isnan(stored[np.triu_indices(4, 1)]).all()
    np.testing.assert_array_equal(stored[np.tril_indices(4)], ACC_MEMORY[np.tril_indices(4)])
    metrics = memory_metrics(ACC_MEMORY)
    assert metrics["A_T_memory"] == pytest.approx(61.25, abs=1e-9)
    assert metrics["F_wst_memory"] == pytest.approx(0.35, abs=1e-12)


def test_run_metrics_reports_the_final_row():
    record = RunRecord(dataset="handmade", method="agem", seed=0, acc_final=ACC, acc_lca=np.tile(ACC_LCA, (1, 3))[:, :11],
                       violations=np.array([0, 2, 3, 5]), train_seconds=1.0, memory_bytes=8, acc_memory=ACC_MEMORY)
    metrics = run_metrics(record)
    assert metrics["A_T"] == pytest.approx(100 * 2.15 / 4, abs=1e-9)
    assert metrics["F_T"] == pytest.approx(1.15 / 3, abs=1e-12)
    assert metrics["F_wst"] == pytest.approx(EXPECTED_F_WST, abs=1e-12)
    assert metrics["violations_total"] == 10
    assert metrics["A_T_memory"] == pytest.approx(61.25, abs=1e-9)
    assert metrics["F_wst_memory"] == pytest.approx(0.35, abs=1e-12)
