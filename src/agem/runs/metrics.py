"""Continual-learning metrics of the paper (§3), computed from a run's raw accuracy tensors only.

Notation (0-indexed): ``acc_final[k, j]`` = a_{k,B_k,j}, the accuracy on task j after the last
step of task k (NaN where not evaluated); ``acc_lca[k, b]`` = a_{k,b,k}, the accuracy on task k
after its b-th mini-batch (b = 0: before any update on it).

Every function is NaN-transparent and silent: a quantity that cannot be computed (MULTI-TASK runs
evaluate only the final row and have no learning curve) comes out NaN without a RuntimeWarning.
"""

from __future__ import annotations

import numpy as np

from agem.runs.runfile import RunRecord

LCA_BETA = 10
"""β of the reported LCA_β (paper §3, §6)."""

# Keys of ``run_metrics`` that a diverged run reports as +inf (the paper's "∞", App. E).
DIVERGENT_METRICS = ("A_T", "F_T", "F_wst", "LCA10", "LCA10_eq5")
# The same for the episodic-memory metrics of a run that has a memory (Table 2).
DIVERGENT_MEMORY_METRICS = ("A_T_memory", "F_wst_memory")


def average_accuracy_per_task(acc_final: np.ndarray) -> np.ndarray:
    """A_k = (1/k) Σ_{j≤k} a_{k,B_k,j} for every k (paper §3); entry k uses row k, columns 0..k."""
    acc_final = np.asarray(acc_final, dtype=np.float64)
    return np.array([acc_final[k, : k + 1].mean() for k in range(acc_final.shape[0])])


def _forgetting_terms(acc_final: np.ndarray, k: int) -> np.ndarray:
    """f_j^k = max_{l<k} a_{l,B_l,j} − a_{k,B_k,j} for j < k (paper §3), NaN-ignoring max over l."""
    # fmax.reduce skips NaN like nanmax but returns NaN for an all-NaN column without warning.
    best_before = np.fmax.reduce(acc_final[:k, :k], axis=0)
    return best_before - acc_final[k, :k]


def forgetting_per_task(acc_final: np.ndarray) -> np.ndarray:
    """F_k = mean_{j<k} f_j^k for every k (paper §3); F_0 is NaN (nothing to forget yet)."""
    acc_final = np.asarray(acc_final, dtype=np.float64)
    n_tasks = acc_final.shape[0]
    forgetting = np.full(n_tasks, np.nan)
    for k in range(1, n_tasks):
        forgetting[k] = _forgetting_terms(acc_final, k).mean()
    return forgetting


def worst_case_forgetting(acc_final: np.ndarray) -> float:
    """F_wst = max_j f_j^T over the final row (paper Table 2); NaN for a single task."""
    acc_final = np.asarray(acc_final, dtype=np.float64)
    n_tasks = acc_final.shape[0]
    if n_tasks < 2:
        return float("nan")
    return float(_forgetting_terms(acc_final, n_tasks - 1).max())


def z_b(acc_lca: np.ndarray) -> np.ndarray:
    """Z_b = (1/T) Σ_k a_{k,b,k} for every b (paper §3, before Eq. 5)."""
    return np.asarray(acc_lca, dtype=np.float64).mean(axis=0)


def _z_upto(acc_lca: np.ndarray, beta: int) -> np.ndarray:
    z = z_b(acc_lca)
    if not 0 <= beta < z.shape[0]:
        raise ValueError(f"beta must be in 0..{z.shape[0] - 1} for acc_lca with {z.shape[0]} columns, got {beta}")
    return z[: beta + 1]


def lca_eq5(acc_lca: np.ndarray, beta: int = LCA_BETA) -> float:
    """LCA_β = (1/(β+1)) Σ_{b=0..β} Z_b, the paper's Eq. 5 as printed."""
    return float(_z_upto(acc_lca, beta).mean())


def lca_trapezoid(acc_lca: np.ndarray, beta: int = LCA_BETA) -> float:
    """LCA_β = (Z_0/2 + Z_1 + … + Z_{β−1} + Z_β/2)/β, β ≥ 1.

    The trapezoid area the authors' plotting notebook computed; it produced the paper's LCA
    numbers (docs/decisions.md#lca-trapezoid), so it is the reported LCA10.
    """
    if beta < 1:
        raise ValueError(f"the trapezoid LCA needs beta >= 1, got {beta}")
    z = _z_upto(acc_lca, beta)
    return float((z.sum() - (z[0] + z[-1]) / 2) / beta)


def lca_curve(acc_lca: np.ndarray) -> np.ndarray:
    """LCA_β for β = 0..L−1 (paper Fig. 3 bottom): Z_0 at β = 0, the trapezoid for β ≥ 1."""
    n_points = np.asarray(acc_lca).shape[1]
    return np.array([lca_trapezoid(acc_lca, b) if b else z_b(acc_lca)[0] for b in range(n_points)])


def stored_tasks_only(acc_memory: np.ndarray) -> np.ndarray:
    """``acc_memory`` with NaN where task j's memory did not exist yet after task k (j > k):
    the lower triangle that the A_T / F_wst definitions apply to for Table 2."""
    acc_memory = np.asarray(acc_memory, dtype=np.float64)
    return np.where(np.tri(*acc_memory.shape, dtype=bool), acc_memory, np.nan)


def memory_metrics(acc_memory: np.ndarray | None) -> dict[str, float]:
    """Table 2's A_T (%) and F_wst on the episodic memory: the test-set definitions (paper §3)
    applied to the accuracies on each stored task's memory; NaN for a run without a memory."""
    if acc_memory is None:
        return {"A_T_memory": float("nan"), "F_wst_memory": float("nan")}
    acc_memory = stored_tasks_only(acc_memory)
    return {
        "A_T_memory": 100.0 * float(average_accuracy_per_task(acc_memory)[-1]),
        "F_wst_memory": worst_case_forgetting(acc_memory),
    }


def run_metrics(record: RunRecord) -> dict[str, float | int | bool]:
    """The scalar metrics of one run (paper §3, Table 2, Table 7).

    A_T in %, F_T and F_wst as fractions, LCA10 by the trapezoid and LCA10_eq5 by Eq. 5;
    A_T_memory and F_wst_memory on the episodic memory (Table 2, NaN without one).
    A diverged run reports +inf for the accuracy metrics, as the paper's "∞" for PI on MNIST.
    """
    acc_final = record.acc_final
    metrics: dict[str, float | int | bool] = {
        "A_T": 100.0 * float(average_accuracy_per_task(acc_final)[-1]),
        "F_T": float(forgetting_per_task(acc_final)[-1]),
        "F_wst": worst_case_forgetting(acc_final),
        "LCA10": lca_trapezoid(record.acc_lca, LCA_BETA),
        "LCA10_eq5": lca_eq5(record.acc_lca, LCA_BETA),
        "violations_total": int(np.asarray(record.violations).sum()),
        "train_seconds": float(record.train_seconds),
        "memory_bytes": int(record.memory_bytes),
        "diverged": bool(record.diverged),
        **memory_metrics(record.acc_memory),
    }
    if record.diverged:
        metrics.update(dict.fromkeys(DIVERGENT_METRICS, float("inf")))
        if record.acc_memory is not None:
            metrics.update(dict.fromkeys(DIVERGENT_MEMORY_METRICS, float("inf")))
    return metrics
