"""Data frames of run metrics: per seed, per task, per β, and the main table's mean ± std.

Diverged seeds are left out of every mean and std and counted in ``n_diverged``; a dataset ×
method whose seeds all diverged reports +inf accuracy metrics (the paper's "∞") and NaN stds.
Dataset × method pairs without any run file get no row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from agem.report.labels import resolve_order
from agem.runs.metrics import (
    average_accuracy_per_task,
    forgetting_per_task,
    lca_curve,
    lca_eq5,
    run_metrics,
    z_b,
)
from agem.runs.runfile import ExpectedRun, RunFileError, RunRecord, duplicate_runs, read_run

MAIN_COLUMNS = [
    "dataset", "method", "n_seeds",
    "A_T_mean", "A_T_std", "F_T_mean", "F_T_std", "LCA10_mean", "LCA10_std",
    "train_seconds_mean", "memory_bytes", "n_diverged",
]


# Metrics summarised as mean and std over the non-diverged seeds; a row whose seeds all diverged
# gets +inf for the accuracy metrics (the paper's "∞") and NaN for the time.
SUMMARISED = {"A_T": np.inf, "F_T": np.inf, "LCA10": np.inf, "train_seconds": np.nan}


def load_runs(paths: Iterable[str | Path], expected: Mapping[str | Path, ExpectedRun] | None = None) -> list[RunRecord]:
    """The runs, each validated by the reader (``expected``: the run a path must hold, where the
    caller knows it); RunFileError naming the file and the fix for a bad one, or for two files
    that hold the same run."""
    wanted = {Path(path): run for path, run in (expected or {}).items()}
    records = [(Path(path), read_run(path, wanted.get(Path(path)))) for path in paths]
    if duplicates := duplicate_runs(records):
        files = " ".join(str(path) for pair, _ in duplicates for path in pair)
        raise RunFileError(f"{'. '.join(message for _, message in duplicates)}; "
                           f"move away the one that does not belong (of {files}), or delete it to retrain it")
    return [record for _, record in records]


def _run_key(record: RunRecord) -> dict[str, object]:
    return {"dataset": record.dataset, "method": record.method, "seed": record.seed,
            "diverged": record.diverged}


def per_seed_metrics(records: Iterable[RunRecord]) -> pd.DataFrame:
    """One row per run: dataset, method, seed, n_tasks and every ``run_metrics`` value."""
    rows = [{**_run_key(r), "n_tasks": r.n_tasks, **run_metrics(r)} for r in records]
    return pd.DataFrame(rows, columns=["dataset", "method", "seed", "diverged", "n_tasks",
                                       "A_T", "F_T", "F_wst", "LCA10", "LCA10_eq5",
                                       "violations_total", "train_seconds", "memory_bytes",
                                       "A_T_memory", "F_wst_memory"])


def per_task_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    """Long format, one row per run × task (1-based): A_k, F_k, violations and the zero-shot
    accuracy a_{k,0,k} before any update on task k (Fig. 3 top, Fig. 6, Fig. 5)."""
    frames = [
        pd.DataFrame({
            **_run_key(r),
            "task": np.arange(1, r.n_tasks + 1),
            "A_k": average_accuracy_per_task(r.acc_final),
            "F_k": forgetting_per_task(r.acc_final),
            "violations": np.asarray(r.violations, dtype=np.int64),
            "zero_shot": np.asarray(r.acc_lca, dtype=np.float64)[:, 0],
        })
        for r in records
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["dataset", "method", "seed", "diverged", "task", "A_k", "F_k", "violations", "zero_shot"])


def lca_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    """Long format, one row per run × β: Z_b, LCA_β (trapezoid; Z_0 at β = 0) and Eq. 5 (Fig. 3)."""
    frames = []
    for r in records:
        betas = np.arange(r.acc_lca.shape[1])
        frames.append(pd.DataFrame({
            **_run_key(r),
            "beta": betas,
            "Z_b": z_b(r.acc_lca),
            "LCA": lca_curve(r.acc_lca),
            "LCA_eq5": [lca_eq5(r.acc_lca, b) for b in betas],
        }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["dataset", "method", "seed", "diverged", "beta", "Z_b", "LCA", "LCA_eq5"])


ABLATION_COLUMNS = ["dataset", "method", "network", "epochs", "seed", "diverged", "A_T", "F_T"]


def ablation_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run of the epochs ablation (Figs. 7–8): its network name and epochs per task
    (from the run's config), A_T and F_T."""
    per_seed = per_seed_metrics(records)
    per_seed["network"] = [r.config.get("ablation_network", "default") for r in records]
    per_seed["epochs"] = [int(r.config.get("training", {}).get("epochs", 1)) for r in records]
    return per_seed[ABLATION_COLUMNS]


def mean_std(values: np.ndarray, axis: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over runs (numpy, ddof=0, NaN propagating), as the paper reports (App. E)."""
    values = np.asarray(values, dtype=np.float64)
    return values.mean(axis=axis), values.std(axis=axis, ddof=0)


def select_runs(frame: pd.DataFrame, dataset: str, method: str) -> pd.DataFrame:
    return frame[(frame["dataset"] == dataset) & (frame["method"] == method)]


def summarise(runs: pd.DataFrame, metric: str, all_diverged: float = np.inf) -> tuple[float, float]:
    """Mean and std of ``metric`` over the non-diverged runs; ``(all_diverged, NaN)`` when every
    run diverged (explicit: the mean of no seeds is not a number to print as one), NaN without runs.
    One seed has no spread: its std is NaN, not 0."""
    kept = runs[~runs["diverged"].astype(bool)]
    if kept.empty:
        return (all_diverged if not runs.empty else np.nan), np.nan
    mean, std = mean_std(kept[metric].to_numpy())
    return float(mean), (float(std) if len(kept) > 1 else np.nan)


def main_table(per_seed: pd.DataFrame, datasets: Sequence[str] | None = None,
               methods: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per dataset × method present, in the given orders, with columns :data:`MAIN_COLUMNS`."""
    rows = []
    for dataset in resolve_order(per_seed["dataset"], datasets):
        for method in resolve_order(per_seed["method"], methods):
            runs = select_runs(per_seed, dataset, method)
            if runs.empty:
                continue
            n_diverged = int(runs["diverged"].astype(bool).sum())
            row: dict[str, object] = {"dataset": dataset, "method": method, "n_seeds": len(runs) - n_diverged}
            for metric, all_diverged in SUMMARISED.items():
                row[f"{metric}_mean"], row[f"{metric}_std"] = summarise(runs, metric, all_diverged)
            row["memory_bytes"] = int(runs["memory_bytes"].max())
            row["n_diverged"] = n_diverged
            rows.append(row)
    return pd.DataFrame(rows, columns=MAIN_COLUMNS)
