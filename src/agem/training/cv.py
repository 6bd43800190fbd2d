"""The paper's hyper-parameter protocol (Alg. 1, §2): grid search on the cross-validation tasks.

Every point of the grid trains once per CV seed on the stream's first tasks (the CV tasks, which
the evaluation runs never see); the point with the highest average accuracy A over those tasks
after the last one wins, and the evaluation runs of that benchmark and method use it.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from agem.io.atomic import atomic_output
from agem.methods import METHODS, make_hyperparameters
from agem.runs.metrics import average_accuracy_per_task
from agem.runs.runfile import read_run

CRITERION = "A_T on the CV tasks' test sets (mean over CV seeds; paper Alg. 1)"


def _grid_values(grid: dict, name: str, method: str) -> list | None:
    values = grid.get(name)
    if isinstance(values, dict):  # per-method lists, e.g. lam: {ewc: [...], pi: [...]}
        values = values.get(method)
    return list(values) if values else None


def point_id(values: dict) -> str:
    """A readable, file-name-safe identifier, e.g. ``lr0.03-lam10``."""
    return "-".join(f"{name}{value:g}" if isinstance(value, float) else f"{name}{value}" for name, value in values.items())


def grid_points(config: dict, dataset: str, method: str) -> dict[str, dict]:
    """Point id → the full hyper-parameters of that point (the config's values, grid values on top).

    A grid entry applies to every method that has a hyper-parameter of that name; an entry given
    per method (a mapping) applies to the methods it names.
    """
    base = dict(config["hparams"][dataset][method])
    names = [f.name for f in dataclasses.fields(METHODS[method].Hyperparameters)]
    axes = {name: values for name in names if (values := _grid_values(config["cv_grid"], name, method))}
    points = {}
    for combination in itertools.product(*axes.values()):
        values = dict(zip(axes, combination))
        make_hyperparameters(method, {**base, **values})  # fails early on a bad grid value
        points[point_id(values) or "config"] = {**base, **values}
    return points


def cv_accuracy(run_path: str | Path) -> float:
    """A at the end of the CV tasks; a diverged run counts as the worst possible."""
    record = read_run(run_path)
    if record.diverged:
        return -np.inf
    return float(average_accuracy_per_task(record.acc_final)[-1])


def select(points: dict[str, dict], runs: dict[str, Sequence[str | Path]]) -> dict:
    """The winning point (first in grid order among ties) and every candidate's score."""
    candidates = []
    for point, hparams in points.items():
        scores = [cv_accuracy(path) for path in runs[point]]
        candidates.append({"point": point, "hparams": hparams, "A_mean": float(np.mean(scores)), "n_seeds": len(scores)})
    best = max(candidates, key=lambda c: c["A_mean"])  # max keeps the first of equal scores
    if not np.isfinite(best["A_mean"]):
        raise ValueError("every grid point diverged on the CV tasks; widen cv_grid towards smaller learning rates")
    return {"criterion": CRITERION, "selected": best["hparams"], "selected_point": best["point"], "candidates": candidates}


def write_selection(path: str | Path, dataset: str, method: str, selection: dict) -> None:
    with atomic_output(path) as tmp:
        Path(tmp).write_text(yaml.safe_dump({"dataset": dataset, "method": method, **selection}, sort_keys=False))


def read_selected_hparams(path: str | Path) -> dict:
    selection = yaml.safe_load(Path(path).read_text())
    if not isinstance(selection, dict) or "selected" not in selection:
        raise ValueError(f"{path} is not a hyper-parameter selection (no 'selected' key); delete it and rerun the cv_select rule")
    return selection["selected"]
