"""The run file: everything one training job (dataset × method × seed) produced.

Layout of ``results/runs/{dataset}/{method}/{variant}/seed{seed}.h5`` (format version 1; the variant: agem.runs.identity):

datasets
    ``acc_final``   float64 [T, T]  row k: accuracy on every task j after the last step of
                    task k (a_{k,B_k,j}); NaN where not evaluated (j > k by default).
    ``acc_lca``     float64 [T, L]  a_{k,b,k} for b = 0..L-1 (L = 11: b = 0 is before any
                    update on task k), the input of Z_b and LCA (paper §3, Eq. 5).
    ``violations``  int64   [T]     steps of task k whose gradient violated a constraint
                    (A-GEM: gᵀg_ref < 0; GEM: any gᵀg_k < 0); zeros for methods without any.
    ``acc_memory``  float64 [T, T]  optional (methods with an episodic memory): row k, accuracy on
                    the memory of every stored task j after task k (paper Table 2).
    ``acc_curve``   float64 [N, T]  optional, dense evaluation schedule (``curve_every``);
    ``curve_step``  int64   [N, 2]  (task, batch) of each ``acc_curve`` row.
attributes
    ``format_version`` (int), ``dataset``, ``method`` (str), ``seed`` (int),
    ``train_seconds`` (float, training only, evaluation excluded),
    ``memory_bytes`` (int, peak bytes of model parameters + gradients + method state such as
    the episodic memory), ``diverged`` (bool), ``diverged_step`` (int, -1 if not diverged),
    ``config`` (JSON: the resolved settings of the job), ``versions`` (JSON: package versions
    and git commit), ``n_parameters`` (P, trainable parameters of the network at the start) and
    ``hidden_units`` (H, activations per example of the hidden layers): the inputs of the
    paper's memory formulas (Table 7).

Accuracies are fractions in [0, 1]; T is the number of tasks trained on (17 evaluation tasks on
the paper's benchmarks). Every read validates the whole file first (:func:`run_file_problems`:
types and shapes from the metadata, then where NaN may stand, ranges, identity) and refuses a bad
one with RunFileError naming the file and the fix.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from agem.io.atomic import atomic_hdf5

RUN_FORMAT_VERSION = 1


class RunFileError(ValueError):
    """A run file is missing, unreadable, or not in the expected format."""


@dataclass
class RunRecord:
    dataset: str
    method: str
    seed: int
    acc_final: np.ndarray
    acc_lca: np.ndarray
    violations: np.ndarray
    train_seconds: float
    memory_bytes: int
    config: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    diverged: bool = False
    diverged_step: int = -1
    acc_curve: np.ndarray | None = None
    curve_step: np.ndarray | None = None
    acc_memory: np.ndarray | None = None
    n_parameters: int = 0
    hidden_units: int = 0
    identity: str = ""  # the run's identity as JSON (agem.runs.identity); "" for runs made outside the workflow

    @property
    def n_tasks(self) -> int:
        return self.acc_final.shape[0]


def write_run(path: str | Path, record: RunRecord) -> None:
    """Write a run file atomically: a crash never leaves a half-written run behind."""
    n_tasks = record.acc_final.shape[0]
    if record.acc_final.shape != (n_tasks, n_tasks):
        raise RunFileError(f"acc_final must be square [T, T], got {record.acc_final.shape}")
    if record.acc_lca.shape[0] != n_tasks or record.violations.shape != (n_tasks,):
        raise RunFileError(
            f"acc_lca {record.acc_lca.shape} and violations {record.violations.shape} "
            f"must have T = {n_tasks} rows"
        )
    # Built in memory: a full disk is then a Python OSError, not a failure inside HDF5's clean-up.
    with atomic_hdf5(path) as f:
        f.attrs["format_version"] = RUN_FORMAT_VERSION
        f.attrs["dataset"] = record.dataset
        f.attrs["method"] = record.method
        f.attrs["seed"] = int(record.seed)
        f.attrs["train_seconds"] = float(record.train_seconds)
        f.attrs["memory_bytes"] = int(record.memory_bytes)
        f.attrs["diverged"] = bool(record.diverged)
        f.attrs["diverged_step"] = int(record.diverged_step)
        f.attrs["config"] = json.dumps(record.config, sort_keys=True)
        f.attrs["versions"] = json.dumps(record.versions, sort_keys=True)
        f.attrs["n_parameters"] = int(record.n_parameters)
        f.attrs["hidden_units"] = int(record.hidden_units)
        if record.identity:
            f.attrs["identity"] = record.identity
        f.create_dataset("acc_final", data=np.asarray(record.acc_final, dtype=np.float64))
        f.create_dataset("acc_lca", data=np.asarray(record.acc_lca, dtype=np.float64))
        f.create_dataset("violations", data=np.asarray(record.violations, dtype=np.int64))
        if record.acc_memory is not None:
            f.create_dataset("acc_memory", data=np.asarray(record.acc_memory, dtype=np.float64))
        if record.acc_curve is not None:
            f.create_dataset("acc_curve", data=np.asarray(record.acc_curve, dtype=np.float64))
            f.create_dataset("curve_step", data=np.asarray(record.curve_step, dtype=np.int64))


# ---- Reading: every run file is validated before use ---------------------------------------------
# A run file may come from elsewhere (a bundle, a copy, a hand edit), so nothing in it is trusted:
# shapes and types come from the HDF5 metadata before any array is read, and the numbers are then
# checked against what the training loop (agem.training.loop) can write.

MAX_TASKS = 1_000
"""Largest T accepted (the paper's benchmarks have 17 evaluation tasks)."""
MAX_ELEMENTS = 10_000_000
"""Largest number of values in one dataset (80 MB of float64): a dense ``acc_curve`` stays far below."""

REMEDY = "delete it to retrain it (`rm {path}`, then rerun snakemake), or move it away to keep it out of the results"

# Required attributes and their types; "json" is a JSON object stored as a string.
ATTRIBUTES = {
    "dataset": "str", "method": "str", "seed": "int", "train_seconds": "real", "memory_bytes": "int",
    "diverged": "bool", "diverged_step": "int", "config": "json", "versions": "json",
    "n_parameters": "int", "hidden_units": "int",
}
# Datasets: (required, dtype kinds, number of dimensions).
DATASETS = {
    "acc_final": (True, "f", 2), "acc_lca": (True, "f", 2), "violations": (True, "iu", 1),
    "acc_memory": (False, "f", 2), "acc_curve": (False, "f", 2), "curve_step": (False, "iu", 2),
}
_KIND_NAMES = {"f": "float", "iu": "integer"}


@dataclass(frozen=True)
class ExpectedRun:
    """What a caller knows a run file must hold (from the file's place in the workflow, not its path).

    ``n_tasks``: T, the number of tasks trained on; ``config``: entries the run's ``config``
    attribute must hold with these values (e.g. ``hparams``, ``network``, ``training``).
    """

    dataset: str
    method: str
    seed: int
    n_tasks: int | None = None
    config: Mapping[str, object] | None = None


def run_file_problems(path: str | Path, expected: ExpectedRun | None = None) -> list[str]:
    """Everything wrong with the run file at ``path``, each as a phrase that follows "run file PATH";
    empty when it can be used. ``expected``: the identity the caller needs it to have."""
    return inspect_run(path, expected)[1]


def run_file_problem(path: str | Path, expected: ExpectedRun | None = None) -> str | None:
    """:func:`run_file_problems` joined into one phrase, or None for a good file."""
    return "; ".join(problems) if (problems := run_file_problems(path, expected)) else None


def read_run(path: str | Path, expected: ExpectedRun | None = None) -> RunRecord:
    """The run stored at ``path``, validated (:func:`run_file_problems`); RunFileError naming the
    file, every problem and the fix otherwise."""
    path = Path(path)
    if not path.is_file():
        raise RunFileError(f"run file {path} does not exist; run the 'train' rule to create it")
    record, problems = inspect_run(path, expected)
    if record is None:
        raise RunFileError(f"run file {path} {'; '.join(problems)}; {REMEDY.format(path=path)}")
    return record


def inspect_run(path: str | Path, expected: ExpectedRun | None = None) -> tuple[RunRecord | None, list[str]]:
    """The validated record and no problems, or None and every problem found."""
    if not Path(path).is_file():
        return None, ["does not exist"]
    try:
        with h5py.File(path, "r") as f:
            return _inspect_open(f, expected)
    except OSError as exc:  # a truncated copy fails at open: its superblock's end-of-file is past the end
        return None, [f"is not a readable HDF5 file ({exc})"]


def duplicate_runs(records: Iterable[tuple[Path, RunRecord]]) -> list[tuple[tuple[Path, Path], str]]:
    """Pairs of run files that hold the same run (dataset, method, seed and config), each with
    its message: a file copied over another run's would count one seed twice and hide the run it
    replaced."""
    first_of: dict[tuple, Path] = {}
    found = []
    for path, record in records:
        key = (record.dataset, record.method, record.seed, json.dumps(record.config, sort_keys=True))
        if key in first_of:
            found.append(((first_of[key], path),
                          f"run files {first_of[key]} and {path} hold the same run ({record.dataset}, {record.method}, seed {record.seed}, "
                          "same config): one is a copy of the other, so one of them is not the run its place stands for"))
        else:
            first_of[key] = path
    return found


def _inspect_open(f: h5py.File, expected: ExpectedRun | None) -> tuple[RunRecord | None, list[str]]:
    version, problem = _attribute(f.attrs, "format_version", "int")
    if problem or version != RUN_FORMAT_VERSION:
        return None, [problem or f"has format version {version!r}, this code reads version {RUN_FORMAT_VERSION}"]
    attrs, problems = {}, []
    for name, kind in ATTRIBUTES.items():
        attrs[name], problem = _attribute(f.attrs, name, kind)
        problems += [problem] if problem else []
    datasets, layout_problems = _datasets(f)
    problems += layout_problems
    if problems:  # shapes or types wrong: reading values would only add noise
        return None, problems
    try:
        arrays = {name: dataset[()] for name, dataset in datasets.items()}
    except OSError as exc:
        return None, [f"has a dataset that cannot be read ({exc})"]
    problems = _scalar_problems(attrs) + _value_problems(arrays, attrs) + _identity_problems(attrs, arrays, expected)
    if problems:
        return None, problems
    return RunRecord(
        dataset=attrs["dataset"], method=attrs["method"], seed=attrs["seed"],
        acc_final=arrays["acc_final"], acc_lca=arrays["acc_lca"], violations=arrays["violations"],
        train_seconds=float(attrs["train_seconds"]), memory_bytes=attrs["memory_bytes"],
        config=attrs["config"], versions=attrs["versions"], diverged=attrs["diverged"], diverged_step=attrs["diverged_step"],
        acc_curve=arrays.get("acc_curve"), curve_step=arrays.get("curve_step"), acc_memory=arrays.get("acc_memory"),
        n_parameters=attrs["n_parameters"], hidden_units=attrs["hidden_units"],
    ), []


def _attribute(attrs: h5py.AttributeManager, name: str, kind: str) -> tuple[object, str | None]:
    """The attribute as a Python value, or the problem with it."""
    if name not in attrs:
        return None, f"lacks attribute {name!r}"
    try:
        value = attrs[name]
    except (OSError, TypeError, ValueError) as exc:
        return None, f"has an attribute {name!r} that cannot be read ({exc})"
    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            return None, f"has attribute {name!r} of shape {value.shape}, expected a single {kind}"
        value = value[()]
    if isinstance(value, np.generic):
        value = value.item()
    if kind == "json":
        if not isinstance(value, str):
            return None, f"has attribute {name!r} of type {type(value).__name__}, expected a JSON object as text"
        try:
            value = json.loads(value)
        except ValueError as exc:
            return None, f"has attribute {name!r} that is not valid JSON ({exc})"
        return (value, None) if isinstance(value, dict) else (None, f"has attribute {name!r} that is JSON but not an object")
    types = {"str": (str,), "int": (int,), "real": (int, float), "bool": (bool,)}[kind]
    if not isinstance(value, types) or (kind in ("int", "real") and isinstance(value, bool)):
        return None, f"has attribute {name!r} = {_short(value)} of type {type(value).__name__}, expected {kind}"
    return value, None


def _datasets(f: h5py.File) -> tuple[dict[str, h5py.Dataset], list[str]]:
    """The datasets, checked from their metadata only: present, stored in this file, of the right
    type and of consistent, bounded shapes."""
    found, problems = {}, []
    for name, (required, kinds, ndim) in DATASETS.items():
        link = f.get(name, getlink=True)
        if link is None:
            problems += [f"lacks dataset {name!r}"] if required else []
            continue
        if not isinstance(link, h5py.HardLink):
            problems.append(f"has {name!r} as a {type(link).__name__} to elsewhere; a run file holds its own data")
            continue
        dataset = f[name]
        if not isinstance(dataset, h5py.Dataset):
            problems.append(f"has {name!r} as a {type(dataset).__name__}, expected a dataset")
        elif dataset.is_virtual or dataset.external:
            problems.append(f"has dataset {name!r} stored outside the file; a run file holds its own data")
        elif dataset.dtype.kind not in kinds:
            problems.append(f"has dataset {name!r} of type {dataset.dtype}, expected {_KIND_NAMES[kinds]}")
        elif dataset.ndim != ndim:
            problems.append(f"has dataset {name!r} of shape {dataset.shape}, expected {ndim} dimensions")
        elif dataset.size > MAX_ELEMENTS:
            problems.append(f"declares dataset {name!r} of shape {dataset.shape}, more than this reader's {MAX_ELEMENTS:,} values")
        else:
            found[name] = dataset
    if not problems:
        problems = _shape_problems({name: d.shape for name, d in found.items()})
    return found, problems


def _shape_problems(shapes: dict[str, tuple[int, ...]]) -> list[str]:
    n_tasks = shapes["acc_final"][0]
    if shapes["acc_final"] != (n_tasks, n_tasks) or not 1 <= n_tasks <= MAX_TASKS:
        return [f"has acc_final of shape {shapes['acc_final']}, expected square [T, T] with 1 <= T <= {MAX_TASKS}"]
    n_curve = shapes.get("acc_curve", (0,))[0]
    wanted = {"acc_lca": (n_tasks, max(shapes["acc_lca"][1], 1)), "violations": (n_tasks,), "acc_memory": (n_tasks, n_tasks),
              "acc_curve": (n_curve, n_tasks), "curve_step": (n_curve, 2)}
    problems = [f"has {name} of shape {shapes[name]}, expected {wanted[name]} for T = {n_tasks}"
                for name in wanted if name in shapes and shapes[name] != wanted[name]]
    if ("acc_curve" in shapes) != ("curve_step" in shapes):
        problems.append("has only one of acc_curve and curve_step, which go together")
    return problems


def _scalar_problems(attrs: dict) -> list[str]:
    problems = []
    if not (math.isfinite(attrs["train_seconds"]) and attrs["train_seconds"] >= 0):
        problems.append(f"has train_seconds {attrs['train_seconds']!r}, expected a finite number >= 0")
    problems += [f"has {name} {attrs[name]}, expected >= 0" for name in ("seed", "memory_bytes", "n_parameters", "hidden_units") if attrs[name] < 0]
    if attrs["diverged"] and attrs["diverged_step"] < 0:
        problems.append(f"is marked diverged but has diverged_step {attrs['diverged_step']} (the step where the loss stopped being finite, >= 0)")
    if not attrs["diverged"] and attrs["diverged_step"] != -1:
        problems.append(f"is not marked diverged but has diverged_step {attrs['diverged_step']} (expected -1)")
    return problems


def _identity_problems(attrs: dict, arrays: dict[str, np.ndarray], expected: ExpectedRun | None) -> list[str]:
    """The attributes against the file's own config and against what the caller expects."""
    config = attrs["config"]
    problems = [f"has attribute {name} {attrs[name]!r} but its config says {config[name]!r}: the attribute was changed"
                for name in ("dataset", "method", "seed") if name in config and config[name] != attrs[name]]
    if expected is None:
        return problems
    wanted = {"dataset": expected.dataset, "method": expected.method, "seed": expected.seed}
    problems += [f"has {name} {attrs[name]!r}, expected {value!r}" for name, value in wanted.items() if attrs[name] != value]
    n_tasks = arrays["acc_final"].shape[0]
    if expected.n_tasks is not None and n_tasks != expected.n_tasks:
        problems.append(f"has T = {n_tasks} tasks, expected {expected.n_tasks}")
    for key, value in (expected.config or {}).items():
        if key not in config:
            problems.append(f"has no config entry {key!r}, expected {_short(value)}")
        elif _canonical(config[key]) != _canonical(value):
            problems.append(f"has config {key} = {_short(config[key])}, expected {_short(value)}")
    return problems


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _short(value: object, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- Where an accuracy may be NaN -----------------------------------------------------------------
# The training loop fills acc_final row k at the end of task k with tasks j <= k (every task with
# evaluate_future_tasks), NaN after; a MULTI-TASK run (joint training) fills only the last row and
# no learning curve; acc_lca row k holds b = 0 (before any update) up to the task's last step
# (NaN after it, for a task shorter than lca_batches); a diverged run stops where its loss stopped
# being finite, leaving NaN in whatever it had not reached. Accuracies are never infinite.


def _value_problems(arrays: dict[str, np.ndarray], attrs: dict) -> list[str]:
    n_tasks = arrays["acc_final"].shape[0]
    diverged = attrs["diverged"]
    joint = not diverged and _trains_jointly(attrs["method"], arrays)
    future = _evaluates_future_tasks(attrs["config"])
    problems = []
    training = attrs["config"].get("training")
    lca_batches = training.get("lca_batches") if isinstance(training, dict) else None
    if isinstance(lca_batches, int) and arrays["acc_lca"].shape[1] != lca_batches + 1:
        problems.append(f"has acc_lca with {arrays['acc_lca'].shape[1]} columns but its config's lca_batches {lca_batches} needs {lca_batches + 1}")
    tasks = np.arange(n_tasks)
    problems += _accuracy_problems("acc_final", arrays["acc_final"], *_row_rules(tasks, n_tasks, future, diverged, joint))
    # acc_lca: b = 0, 1, ... up to the task's last step, NaN after (a run without a learning curve: all NaN).
    lca_isnan = np.isnan(arrays["acc_lca"])
    lca_forbidden = np.full_like(lca_isnan, joint)
    problems += _accuracy_problems("acc_lca", arrays["acc_lca"], np.zeros_like(lca_isnan), lca_forbidden,
                                   "", "a MULTI-TASK run has no learning curve")
    problems += _prefix_problems("acc_lca", lca_isnan, "the accuracies after b = 0, 1, ... steps of the task")
    if "acc_memory" in arrays:
        nothing = np.zeros(arrays["acc_memory"].shape, dtype=bool)
        problems += _accuracy_problems("acc_memory", arrays["acc_memory"], nothing, nothing, "", "")
        problems += _prefix_problems("acc_memory", np.isnan(arrays["acc_memory"]), "the accuracies on the stored tasks' memories")
    if "violations" in arrays and (arrays["violations"] < 0).any():
        problems.append(f"has negative violations ({_first(arrays['violations'] < 0)}), expected counts >= 0")
    return problems + _curve_problems(arrays, n_tasks, future, diverged)


def _curve_problems(arrays: dict[str, np.ndarray], n_tasks: int, future: bool | None, diverged: bool) -> list[str]:
    if "curve_step" not in arrays:
        return []
    steps = arrays["curve_step"]
    bad = (steps[:, 0] < 0) | (steps[:, 0] >= n_tasks) | (steps[:, 1] < 1)
    if bad.any():
        row = int(np.argmax(bad))
        return [f"has curve_step[{row}] = {steps[row].tolist()}, expected (task in 0..{n_tasks - 1}, batch >= 1)"]
    return _accuracy_problems("acc_curve", arrays["acc_curve"], *_row_rules(steps[:, 0], n_tasks, future, diverged, joint=False))


def _row_rules(rows_task: np.ndarray, n_tasks: int, future: bool | None, diverged: bool, joint: bool) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Masks of the entries that must hold an accuracy and of those that must be NaN, for rows of
    accuracies on every task, row i evaluated after task ``rows_task[i]``; and why."""
    columns = np.arange(n_tasks)[None, :]
    seen = columns <= rows_task[:, None]
    needed = np.ones_like(seen) if future else seen
    forbidden = ~seen if future is False else np.zeros_like(seen)
    why_needed = "a finished run has an accuracy on every task j <= k after task k" + (" (and on every task: evaluate_future_tasks)" if future else "")
    why_forbidden = "tasks j > k are not evaluated after task k (evaluate_future_tasks is false)"
    if joint:  # only the last row exists: one joint training phase
        earlier = (rows_task < n_tasks - 1)[:, None] & np.ones_like(seen)
        needed, forbidden = ~earlier, earlier
        why_needed, why_forbidden = "a MULTI-TASK run has an accuracy on every task in its last row", "a MULTI-TASK run evaluates only its last row"
    if diverged:  # stopped anywhere: nothing is required, nothing after the stop was evaluated
        needed = forbidden = np.zeros_like(seen)
    return needed, forbidden, why_needed, why_forbidden


def _accuracy_problems(name: str, values: np.ndarray, needed: np.ndarray, forbidden: np.ndarray, why_needed: str, why_forbidden: str) -> list[str]:
    problems = []
    infinite = np.isinf(values)
    if infinite.any():
        problems.append(f"has {name}{_first(infinite)} = {values[infinite][0]}{_more(infinite)}; accuracies are fractions in [0, 1], never infinite")
    outside = np.isfinite(values) & ((values < 0) | (values > 1))
    if outside.any():
        problems.append(f"has {name}{_first(outside)} = {values[outside][0]:g}{_more(outside)}, outside [0, 1] (accuracies are fractions)")
    missing = np.isnan(values) & needed
    if missing.any():
        problems.append(f"has {name}{_first(missing)} = NaN{_more(missing)} where {why_needed}")
    unexpected = ~np.isnan(values) & forbidden
    if unexpected.any():
        problems.append(f"has {name}{_first(unexpected)} = {values[unexpected][0]:g}{_more(unexpected)} where NaN belongs: {why_forbidden}")
    return problems


def _prefix_problems(name: str, isnan: np.ndarray, what: str) -> list[str]:
    """Each row is evaluated up to some point and NaN after: a value after a NaN was never written."""
    resumed = isnan[:, :-1] & ~isnan[:, 1:]
    if not resumed.any():
        return []
    row, column = (int(i) for i in np.argwhere(resumed)[0])
    return [f"has {name}[{row}, {column}] = NaN before a value at [{row}, {column + 1}]; each row holds {what}, then NaN"]


def _trains_jointly(method: str, arrays: dict[str, np.ndarray]) -> bool:
    """Whether the run is a joint-training (MULTI-TASK) run: asked of the method registry only for
    a file shaped like one (earlier rows and learning curve not evaluated), so that reading the
    runs of a table does not import torch."""
    if not (np.isnan(arrays["acc_final"][:-1]).all() and np.isnan(arrays["acc_lca"]).all()):
        return False
    from agem.methods import METHODS  # noqa: PLC0415 (torch, only for such a file)

    return bool(getattr(METHODS.get(method), "joint_training", False))


def _evaluates_future_tasks(config: dict) -> bool | None:
    """From the run's resolved settings; None for a run without them (then either is accepted)."""
    training = config.get("training")
    if not isinstance(training, dict):
        return None
    return bool(training.get("evaluate_future_tasks", False))


def _first(mask: np.ndarray) -> str:
    return "[" + ", ".join(str(int(i)) for i in np.argwhere(mask)[0]) + "]"


def _more(mask: np.ndarray) -> str:
    n = int(mask.sum())
    return f" (and {n - 1} more)" if n > 1 else ""
