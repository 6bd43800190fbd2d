"""Hyper-parameter sweeps: one config entry fans out one run per grid point and seed.

A sweep (config key ``sweeps``) names a benchmark, a method and a grid of hyper-parameter values;
each point's hyper-parameters are the config's ``hparams`` of that pair with the point's values on
top. Its runs are ordinary runs (agem.pipeline.run_plan): a point equal to the config's own values
is the very run of the main table, trained once; two sweeps sharing a point share its file.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from agem.methods import METHODS, make_hyperparameters
from agem.pipeline.config import ConfigError, benchmark_seeds, job_settings
from agem.pipeline.run_plan import PlannedRun
from agem.runs.identity import RunIdentity


@dataclass(frozen=True)
class SweepPoint:
    values: dict  # the swept names' values at this point
    runs: tuple[PlannedRun, ...]  # one per seed


def sweep_points(config: dict, name: str) -> list[SweepPoint]:
    """The points of sweep ``name`` in grid order, each with its runs."""
    sweep = config["sweeps"][name]
    dataset, method, grid = sweep["dataset"], sweep["method"], sweep["grid"]
    base = config["hparams"].get(dataset, {}).get(method, {})
    seeds = sweep.get("seeds") or benchmark_seeds(config, dataset)
    points = []
    for combination in itertools.product(*grid.values()):
        values = dict(zip(grid, combination))
        settings = job_settings(config, dataset, method, hparams={**base, **values})
        runs = tuple(PlannedRun(RunIdentity.from_settings(settings, seed), settings) for seed in seeds)
        points.append(SweepPoint(values, runs))
    return points


def sweep_runs(config: dict) -> list[PlannedRun]:
    return [run for name in config.get("sweeps", {}) for point in sweep_points(config, name) for run in point.runs]


def check_sweeps(config: dict) -> None:
    """Each sweep's benchmark, method, grid names and every point's values, before any job."""
    for name, sweep in config.get("sweeps", {}).items():
        where = f"sweeps.{name}"
        dataset, method = sweep["dataset"], sweep["method"]
        if dataset not in config["benchmarks"]:
            raise ConfigError(f"{where}.dataset: {dataset!r} is not defined under 'benchmarks' (defined: {sorted(config['benchmarks'])})")
        if method not in METHODS:
            raise ConfigError(f"{where}.method: {method!r} is not a registered method (registered: {sorted(METHODS)})")
        base = config["hparams"].get(dataset, {}).get(method)
        if base is None:
            raise ConfigError(f"{where}: hparams.{dataset}.{method} is missing; the sweep's points start from it (add at least its lr)")
        for combination in itertools.product(*sweep["grid"].values()):
            point = dict(zip(sweep["grid"], combination))
            try:
                make_hyperparameters(method, {**base, **point})
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{where}.grid: the point {point} is not valid for {method}: {exc}") from exc
