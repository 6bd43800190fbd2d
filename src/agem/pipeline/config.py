"""Checks the schema cannot express, and the per-job settings the workflow hands to scripts."""

from __future__ import annotations

import difflib
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from agem.data.datasets import SOURCES, check_source_options, source_sizes
from agem.data.datasets.raw import RawDataError
from agem.data.stream_files import spec_digest
from agem.methods import METHODS, make_hyperparameters
from agem.methods.plugins import MethodModuleError, load_method_modules, method_module
from agem.networks.models import check_network_spec
from agem.training.cv import grid_points
from agem.training.devices import check_device_available


class ConfigError(ValueError):
    """The configuration is inconsistent; the message names the key and the fix."""


def coerce_command_line_values(value):
    """Turn strings that are YAML numbers or booleans into them, recursively, in place.

    Snakemake reads the items of ``--config seeds=[1,2]`` as strings (YAML's BaseLoader); read
    them as YAML so that the command line means what the config file would.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = coerce_command_line_values(item)
    elif isinstance(value, list):
        value[:] = [coerce_command_line_values(item) for item in value]
    elif isinstance(value, str):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        if isinstance(parsed, (bool, int, float)):
            return parsed
    return value


def schema_error(config: dict, schema_path: str | Path) -> str | None:
    """The config's first schema violation as one line, key path first, then the problem and the
    fix, or None when the config is valid. Snakemake's own ``validate`` prints the whole schema
    and the merged config (hundreds of lines) around the one line that matters."""
    import jsonschema  # here: the figures and tables import this module and never validate

    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if error is None:
        return None
    where = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "additionalProperties":
        return _unknown_keys(error, where)
    allowed = error.schema.get("description", "config/README.md lists the allowed values")
    return f"{where or 'config'}: {error.message}. {allowed}"


def _unknown_keys(error, where: str) -> str:
    """"training.epochz: not a config key; did you mean 'epochs'? (keys here: ...)"."""
    allowed = sorted(error.schema.get("properties", {}))
    lines = []
    for key in sorted(set(error.instance) - set(allowed)):
        path = f"{where}.{key}" if where else key
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"the keys allowed here: {', '.join(allowed)}"
        lines.append(f"{path}: not a config key; {hint} (config/README.md lists every key)")
    return "; ".join(lines) or f"{where}: {error.message}"


def validate_config(config: dict, schema_path: str | Path) -> None:
    """Raise :class:`ConfigError` with :func:`schema_error`'s one line if the config breaks the
    schema. Run before Snakemake's ``validate``, which then only fills in the schema's defaults."""
    problem = schema_error(config, schema_path)
    if problem is not None:
        raise ConfigError(problem)


def print_warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def check_config(config: dict, jobs_run_here: bool = True, warn: Callable[[str], None] = print_warning) -> None:
    """Cross-check a schema-validated config; raise :class:`ConfigError` naming the offending key.

    Everything a job would otherwise find out only after Snakemake deleted its previous output
    is checked here, before any job. ``jobs_run_here``: jobs run on this machine (not on a
    cluster's nodes), so the requested device must exist here. ``warn`` receives what is allowed
    but probably unintended (classes a split layout leaves unused).
    """
    # First: the methods of the user's own modules and installed packages must be registered
    # before the method names and hyper-parameters below are checked.
    try:
        load_method_modules(config.get("method_modules", []))
    except MethodModuleError as exc:
        raise ConfigError(str(exc)) from exc
    for dataset in config["datasets"]:
        if dataset not in config["benchmarks"]:
            raise ConfigError(f"datasets: {dataset!r} is not defined under 'benchmarks' (defined: {sorted(config['benchmarks'])})")
        _check_benchmark(dataset, config["benchmarks"][dataset])
        _check_layout_and_memory(dataset, config["benchmarks"][dataset], warn)
    for method in config["methods"]:
        if method not in METHODS:
            raise ConfigError(f"methods: {method!r} is not a registered method (registered: {sorted(METHODS)})")
    _check_requests_run(config, warn)
    for dataset in config["datasets"]:
        for method in benchmark_methods(config, dataset):
            _check_hparams(config, dataset, method)
    if config.get("hparam_selection") == "cross_validate":
        _check_cross_validation(config)
    if jobs_run_here:
        try:
            check_device_available(config.get("device", "auto"))
        except RuntimeError as exc:
            raise ConfigError(f"device: {exc}") from exc


def _check_benchmark(dataset: str, spec: dict) -> None:
    where = f"benchmarks.{dataset}"
    if spec["source"] not in SOURCES:
        raise ConfigError(f"{where}.source: unknown source {spec['source']!r}; known: {sorted(SOURCES)}")
    try:
        check_network_spec(spec["network"])
    except ValueError as exc:
        raise ConfigError(f"{where}.network.{exc}") from exc
    if spec["layout"] == "split" and "classes_per_task" not in spec:
        raise ConfigError(f"{where}.classes_per_task is required for layout 'split'")
    if spec.get("n_cv_tasks", 0) >= spec["n_tasks"]:
        raise ConfigError(f"{where}.n_cv_tasks ({spec.get('n_cv_tasks', 0)}) must be smaller than n_tasks ({spec['n_tasks']})")
    for method in spec.get("methods", []):
        if method not in METHODS:
            raise ConfigError(f"{where}.methods: {method!r} is not a registered method (registered: {sorted(METHODS)})")


def _check_layout_and_memory(dataset: str, spec: dict, warn: Callable[[str], None]) -> None:
    """The layout's classes and the memory's per-class quota against what the source holds."""
    where = f"benchmarks.{dataset}"
    options = spec.get("source_options", {})
    try:
        check_source_options(spec["source"], options)
        sizes = source_sizes(spec["source"], options)
    except (TypeError, ValueError, RawDataError) as exc:  # RawDataError: an unreadable IDX label file
        raise ConfigError(f"{where}.source_options: {exc}") from exc
    if spec["layout"] == "permuted" and "classes_per_task" in spec:
        warn(f"{where}.classes_per_task is ignored: a permuted layout trains every class in every task")
    if sizes is None:
        return  # not known before the stream is built: the training job logs a short memory
    classes_per_task = sizes.n_classes if spec["layout"] == "permuted" else spec["classes_per_task"]
    if spec["layout"] == "split":
        _check_split_classes(where, spec, sizes.n_classes, warn)
    if sizes.min_train_per_class is None:
        return
    # The memory splits its slots evenly over a task's classes, the remainder one slot each.
    quota = math.ceil(spec["memory_per_task"] / classes_per_task)
    if quota > sizes.min_train_per_class:
        raise ConfigError(
            f"{where}.memory_per_task: {spec['memory_per_task']} slots over a task's {classes_per_task} classes ask up to "
            f"{quota} examples of a class, but {sizes.origin} has as few as {sizes.min_train_per_class} training images "
            f"in a class; the memory would hold fewer than configured (and Table 7 would count {spec['memory_per_task']}); "
            f"use memory_per_task <= {sizes.min_train_per_class * classes_per_task}"
        )


def _check_split_classes(where: str, spec: dict, n_classes: int, warn: Callable[[str], None]) -> None:
    per_task, n_tasks, n_cv = spec["classes_per_task"], spec["n_tasks"], spec.get("n_cv_tasks", 0)
    if spec.get("class_sampling", "disjoint") == "with_replacement":
        if (n_cv + 1) * per_task > n_classes:
            raise ConfigError(
                f"{where}: {n_cv} CV tasks x {per_task} classes leave fewer than {per_task} of the source's {n_classes} "
                "classes for the evaluation tasks; lower n_cv_tasks or classes_per_task"
            )
        return
    needed = n_tasks * per_task
    if needed > n_classes:
        raise ConfigError(
            f"{where}: n_tasks {n_tasks} x classes_per_task {per_task} = {needed} classes, but the source has {n_classes}; "
            f"lower n_tasks or classes_per_task (at most {n_classes // per_task} tasks of {per_task} classes)"
        )
    if needed < n_classes:
        warn(f"{where}: n_tasks {n_tasks} x classes_per_task {per_task} = {needed} of the source's {n_classes} classes; "
             f"{n_classes - needed} classes are never used (each seed leaves out different ones)")


def _check_requests_run(config: dict, warn: Callable[[str], None]) -> None:
    """Every method asked for runs somewhere, or the config is refused; a method a benchmark
    leaves out, and its hyper-parameters there (a pair that never runs), get one warning line each.
    Hyper-parameters of methods not asked for are the config's defaults for other runs: no warning."""
    for method in config["methods"]:
        excluded = [d for d in config["datasets"] if method not in benchmark_methods(config, d)]
        if len(excluded) == len(config["datasets"]):
            lists = "; ".join(f"benchmarks.{d}.methods is {config['benchmarks'][d].get('methods')}" for d in excluded)
            raise ConfigError(
                f"methods: {method!r} runs on no selected benchmark ({lists}); add {method!r} to a benchmark's methods list "
                f"(e.g. --config 'benchmarks={{{excluded[0]}: {{methods: [..., {method}]}}}}' or in your config file) "
                f"or remove it from methods"
            )
        for dataset in excluded:
            warn(f"methods: {method!r} does not run on {dataset} (not in benchmarks.{dataset}.methods)")
            if method in config["hparams"].get(dataset, {}):
                warn(f"hparams.{dataset}.{method} is ignored: {method} does not run on {dataset}")


def _check_hparams(config: dict, dataset: str, method: str) -> None:
    values = config["hparams"].get(dataset, {}).get(method)
    if values is None:
        raise ConfigError(
            f"hparams.{dataset}.{method} is missing: add at least its learning rate "
            f"(hparams: {{{dataset}: {{{method}: {{lr: ...}}}}}}) to the config; see config/README.md"
        )
    try:
        make_hyperparameters(method, values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"hparams.{dataset}.{method}: {exc}; see config/README.md, \"Method hyper-parameters\"") from exc


def _check_cross_validation(config: dict) -> None:
    for dataset in config["datasets"]:
        if config["benchmarks"][dataset].get("n_cv_tasks", 0) < 1:
            raise ConfigError(
                f"hparam_selection: cross_validate needs CV tasks, but benchmarks.{dataset}.n_cv_tasks is 0; "
                "give it n_cv_tasks (the paper: 3) or use hparam_selection: paper"
            )
        for method in benchmark_methods(config, dataset):
            try:
                grid_points(config, dataset, method)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"cv_grid: a grid point for {method} on {dataset} is invalid: {exc}") from exc


def benchmark_methods(config: dict, dataset: str) -> list[str]:
    """The top-level ``methods`` that a benchmark runs: those in its own ``methods`` list if it has
    one (the paper ran no GEM or PROG-NN on CUB and AWA), else all of them."""
    allowed = config["benchmarks"][dataset].get("methods")
    return [m for m in config["methods"] if allowed is None or m in allowed]


def benchmark_seeds(config: dict, dataset: str) -> list[int]:
    """A benchmark's run seeds: its own ``seeds`` if given, else the top-level ``seeds``."""
    return list(config["benchmarks"][dataset].get("seeds") or config["seeds"])


def stream_spec(config: dict, dataset: str) -> dict:
    """What a stream is built from: changing it rebuilds the stream (and retrains)."""
    spec = dict(config["benchmarks"][dataset])
    for training_only in ("memory_per_task", "network", "resources", "seeds", "methods"):
        spec.pop(training_only, None)
    return spec


def job_settings(config: dict, dataset: str, method: str, hparams: dict | None = None, tasks: str | None = None) -> dict:
    """Everything one training job needs besides its stream and seed, JSON-serialisable.

    ``hparams`` and ``tasks`` override the config's (a cross-validation grid point trains the
    given hyper-parameters on the CV tasks).
    """
    spec = config["benchmarks"][dataset]
    # Whether to checkpoint is the workflow's business, not a result's: toggling it must not retrain.
    training = {k: v for k, v in config.get("training", {}).items() if k != "checkpoint"}
    if tasks is not None:
        training["tasks"] = tasks
    selection = {}
    if hparams is None and config.get("hparam_selection") == "cross_validate" and tasks is None:
        # The evaluation run trains the grid point that cross-validation picks (a job's output):
        # its identity holds the grid it is picked from, not values known before any job.
        selection = {"cross_validate": grid_points(config, dataset, method), "cv_seeds": config.get("cv_seeds")}
    return {
        "dataset": dataset,
        "method": method,
        "hparams": config["hparams"][dataset][method] if hparams is None else hparams,
        **({"hparams_selection": selection} if selection else {}),
        # The benchmark as configured (not part of the run's identity beyond its stream digest,
        # network and memory): a results bundle rebuilds the config from it. Its scheduling keys
        # are left out, so that changing them retrains nothing (Snakemake reruns on new params).
        "benchmark": {k: v for k, v in spec.items() if k not in ("resources", "seeds", "methods")},
        "network": spec["network"],
        "memory_per_task": spec["memory_per_task"],
        "training": training,
        "device": config.get("device", "auto"),
        # The stream a job must train on (checked against the stream file's attributes), and its
        # thread count: results are bit-identical only at a fixed count, so changing it retrains.
        "stream_spec_sha256": spec_digest(stream_spec(config, dataset)),
        "train_threads": config.get("train_threads", 1),
        # Only for a method from outside this package (agem.methods.plugins): the job imports it.
        # Built-in methods' settings stay as they were, so their runs are not retrained.
        **({"method_module": module} if (module := method_module(method)) is not None else {}),
    }


def to_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
