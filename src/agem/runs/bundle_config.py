"""The configuration a set of run files was made with, rebuilt from the runs themselves.

A results bundle carries the config to rebuild its tables with. The config file on disk is no
evidence of that: the runs may come from a ``--config`` override, another config file, or
several invocations. Every run file records what it was trained with (its identity, and the job
settings in its ``config`` attribute, among them the benchmark's full config entry), so the
config is reconstructed from the runs: datasets, methods, seeds, each benchmark, each method's
hyper-parameters, training, device, threads, the cross-validation grid, and ``method_modules``.

One config describes one variant of each dataset × method. Runs that hold two (other
hyper-parameters, another network, another stream) cannot be described by one config: they are
refused, naming two files, so that each result set is exported on its own (``--runs``).
Only the main runs (``results/runs/``) define the config; the epochs ablation's runs travel in
the bundle as files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py

from agem.data.stream_files import spec_digest
from agem.pipeline.paths import RESULTS
from agem.report.labels import PAPER_METHOD_ORDER
from agem.runs.identity import IdentityError, RunIdentity

MAIN_RUNS = f"{RESULTS}/runs/"
# Keys of a benchmark entry that say which runs exist, not how they are made (agem.pipeline.config
# stream_spec drops them too): they are set from the runs.
SELECTION_KEYS = ("methods", "seeds")


class RunConfigError(ValueError):
    """The runs cannot be described by one config; the message names the files and the fix."""


@dataclass(frozen=True)
class RecordedRun:
    """What one run file says about how it was made."""

    path: Path
    identity: RunIdentity
    benchmark: dict


def config_from_runs(paths: Iterable[str | Path], experiment: str, root: str | Path = ".", order: Sequence[str] = ()) -> dict:
    """The config that made the main runs among ``paths`` (relative to ``root``), named ``experiment``.

    The runs do not record the order of the config's lists, which orders the tables' rows:
    datasets and methods named in ``order`` come first, in its order (the rule ``bundle`` passes
    its config's), then the paper's method order, then the rest by name."""
    root = Path(root)
    names = sorted({_relative(path, root) for path in paths})
    runs = [read_recorded_run(Path(name), root) for name in names if name.startswith(MAIN_RUNS)]
    if not runs:
        raise RunConfigError(f"no run files under {MAIN_RUNS} to reconstruct the config from; train first or pass them with --runs")
    _refuse_two_variants(runs)
    first = runs[0]
    global_fields = {
        "training": lambda run: run.identity.training,
        "device": lambda run: run.identity.device,
        "train_threads": lambda run: run.identity.train_threads,
        "hparam_selection": lambda run: _selection_mode(run.identity),
        "cv_seeds": lambda run: run.identity.hparams_selection.get("cv_seeds"),
    }
    for name, value_of in global_fields.items():
        _refuse_disagreement(runs, name, value_of)
    datasets = _ordered({run.identity.dataset for run in runs}, order)
    methods = _ordered({run.identity.method for run in runs}, [*order, *PAPER_METHOD_ORDER])
    seeds = sorted({run.identity.seed for run in runs})
    config = {
        "experiment": experiment,
        "datasets": datasets,
        "methods": methods,
        "seeds": seeds,
        "device": first.identity.device,
        "train_threads": first.identity.train_threads,
        "training": first.identity.training,
        "hparam_selection": _selection_mode(first.identity),
        "benchmarks": {dataset: _benchmark_entry(runs, dataset, methods) for dataset in datasets},
        "hparams": {dataset: {run.identity.method: run.identity.hparams for run in runs if run.identity.dataset == dataset}
                    for dataset in datasets},
    }
    if config["hparam_selection"] == "cross_validate":
        config["cv_grid"] = _cv_grid(runs)
        if first.identity.hparams_selection.get("cv_seeds") is not None:
            config["cv_seeds"] = first.identity.hparams_selection["cv_seeds"]
    modules = sorted({run.identity.method_module for run in runs if run.identity.method_module})
    if modules:
        config["method_modules"] = modules
    return config


def _relative(path: str | Path, root: Path) -> str:
    path = Path(path)
    try:
        return (path.resolve().relative_to(root.resolve()) if path.is_absolute() else path).as_posix()
    except ValueError:
        raise RunConfigError(f"{path} is not inside the project folder {root}") from None


def _ordered(names: set[str], order: Sequence[str]) -> list[str]:
    return sorted(names, key=lambda name: (order.index(name), "") if name in order else (len(order), name))


def _unique(values: Iterable) -> list:
    return list(dict.fromkeys(values))


def read_recorded_run(path: Path, root: Path) -> RecordedRun:
    """The identity and benchmark entry that the run file at ``root / path`` records."""
    file = root / path
    try:
        with h5py.File(file, "r") as f:
            identity_text = _text(f.attrs.get("identity"))
            settings_text = _text(f.attrs.get("config"))
    except OSError as exc:
        raise RunConfigError(f"{path} is not a readable run file ({exc})") from exc
    try:
        settings = json.loads(settings_text) if settings_text else {}
    except json.JSONDecodeError as exc:
        raise RunConfigError(f"{path}: its config attribute is not JSON ({exc}); retrain it") from exc
    if not isinstance(settings, dict):
        raise RunConfigError(f"{path}: its config attribute is not a JSON object; retrain it")
    try:
        if identity_text is not None:
            identity = RunIdentity.from_json(identity_text)
        elif settings:
            identity = RunIdentity.from_settings(settings, settings.get("seed"))
        else:
            raise IdentityError("it records neither an identity nor the settings it was trained with")
    except IdentityError as exc:
        raise RunConfigError(f"{path}: cannot tell how it was made: {exc}; retrain it with this agem-repro") from exc
    benchmark = settings.get("benchmark")
    if not isinstance(benchmark, dict):
        benchmark = _benchmark_from_stream(path, root, settings, identity)
    _check_benchmark_matches(path, benchmark, identity)
    return RecordedRun(path, identity, benchmark)


def _text(value) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _benchmark_from_stream(path: Path, root: Path, settings: dict, identity: RunIdentity) -> dict:
    """A run made before run files recorded their benchmark: its stream file holds the stream's
    part of the entry (attribute ``params``), the run its network and memory."""
    stream = settings.get("stream")
    fix = (f"it predates run files that record their benchmark, and its stream file {stream or '(not recorded)'} is not "
           f"here to read it from: export it where it was trained, rebuild that stream first, or retrain the run")
    if not stream or not (root / stream).is_file():
        raise RunConfigError(f"{path}: cannot reconstruct benchmarks.{identity.dataset}: {fix}")
    try:
        with h5py.File(root / stream, "r") as f:
            params = json.loads(_text(f.attrs["params"]))
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise RunConfigError(f"{path}: cannot reconstruct benchmarks.{identity.dataset}: {root / stream} has no readable spec ({exc})") from exc
    if not isinstance(params, dict):
        raise RunConfigError(f"{path}: cannot reconstruct benchmarks.{identity.dataset}: {root / stream} has no readable spec")
    return {**params, "network": identity.network, "memory_per_task": identity.memory_per_task}


def _check_benchmark_matches(path: Path, benchmark: dict, identity: RunIdentity) -> None:
    """The benchmark entry must be the one the run trained on: same stream, network and memory."""
    stream_part = {key: value for key, value in benchmark.items() if key not in ("memory_per_task", "network", "resources", *SELECTION_KEYS)}
    if spec_digest(stream_part) != identity.stream_spec_sha256:
        raise RunConfigError(f"{path}: the benchmarks.{identity.dataset} entry it records is not the stream it trained on "
                             f"(stream_spec_sha256 differs); the file is inconsistent, retrain it")
    if benchmark.get("network") != identity.network or benchmark.get("memory_per_task") != identity.memory_per_task:
        raise RunConfigError(f"{path}: the benchmarks.{identity.dataset} entry it records has another network or "
                             f"memory_per_task than its identity; the file is inconsistent, retrain it")


def _selection_mode(identity: RunIdentity) -> str:
    return "cross_validate" if "cross_validate" in identity.hparams_selection else "paper"


def _variant_key(run: RecordedRun) -> tuple:
    """What must agree between two runs of one dataset × method for one config to describe both."""
    return (run.identity.variant, json.dumps(_without_selection(run.benchmark), sort_keys=True))


def _without_selection(benchmark: dict) -> dict:
    return {key: value for key, value in benchmark.items() if key not in SELECTION_KEYS}


def _refuse_two_variants(runs: list[RecordedRun]) -> None:
    seen: dict[tuple[str, str], RecordedRun] = {}
    for run in runs:
        key = (run.identity.dataset, run.identity.method)
        other = seen.setdefault(key, run)
        if _variant_key(other) != _variant_key(run):
            raise RunConfigError(
                f"{other.path} and {run.path} are two variants of {key[0]} x {key[1]} (their identities differ beyond the "
                "seed: hyper-parameters, network, stream or training), which one config cannot describe; export each result "
                "set separately with --runs"
            )
    by_dataset: dict[str, RecordedRun] = {}
    for run in runs:  # one benchmarks entry per dataset, whatever the method
        other = by_dataset.setdefault(run.identity.dataset, run)
        if _without_selection(other.benchmark) != _without_selection(run.benchmark):
            raise RunConfigError(f"{other.path} and {run.path} were trained on different benchmarks.{run.identity.dataset} "
                                 "entries, which one config cannot describe; export each result set separately with --runs")


def _refuse_disagreement(runs: list[RecordedRun], name: str, value_of) -> None:
    first = runs[0]
    for run in runs[1:]:
        if value_of(run) != value_of(first):
            raise RunConfigError(f"{first.path} and {run.path} were made with different {name} ({value_of(first)!r} and "
                                 f"{value_of(run)!r}), which one config cannot describe; export each result set separately with --runs")


def _benchmark_entry(runs: list[RecordedRun], dataset: str, methods: list[str]) -> dict:
    """The dataset's recorded entry, with the methods and seeds it has runs of. Always written:
    the rebuild's ``--configfile`` is merged onto config/config.yaml, whose entry of the same
    name could otherwise bring its own lists (agem.pipeline.config benchmark_methods, benchmark_seeds)."""
    own = [run for run in runs if run.identity.dataset == dataset]
    entry = _without_selection(own[0].benchmark)
    entry["methods"] = [method for method in methods if any(run.identity.method == method for run in own)]
    entry["seeds"] = sorted({run.identity.seed for run in own})
    return entry


def _cv_grid(runs: list[RecordedRun]) -> dict:
    """``cv_grid`` per method from the recorded grid points: the hyper-parameters whose values vary
    across a method's points, in the order the points record them."""
    grid: dict[str, dict[str, list]] = {}
    for run in runs:
        points = list(run.identity.hparams_selection["cross_validate"].values())
        for name in _unique(name for point in points for name in point):
            values = _unique(json.dumps(point.get(name)) for point in points)
            if len(values) > 1:
                per_method = grid.setdefault(name, {})
                decoded = [json.loads(value) for value in values]
                if per_method.setdefault(run.identity.method, decoded) != decoded:
                    raise RunConfigError(f"{run.path}: its cross-validation grid for {name} differs from another "
                                         f"{run.identity.method} run's, which one config cannot describe; export each result set separately")
    return grid
