"""The run file: everything one training job (dataset × method × seed) produced.

Layout of ``results/runs/{dataset}/{method}/seed{seed}.h5`` (format version 1):

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
the paper's benchmarks).
"""

from __future__ import annotations

import json
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
        f.create_dataset("acc_final", data=np.asarray(record.acc_final, dtype=np.float64))
        f.create_dataset("acc_lca", data=np.asarray(record.acc_lca, dtype=np.float64))
        f.create_dataset("violations", data=np.asarray(record.violations, dtype=np.int64))
        if record.acc_memory is not None:
            f.create_dataset("acc_memory", data=np.asarray(record.acc_memory, dtype=np.float64))
        if record.acc_curve is not None:
            f.create_dataset("acc_curve", data=np.asarray(record.acc_curve, dtype=np.float64))
            f.create_dataset("curve_step", data=np.asarray(record.curve_step, dtype=np.int64))


def run_file_problem(path: str | Path) -> str | None:
    """What is wrong with an existing run file, found cheaply (no array is read), or None.

    Run files are written atomically, so damage comes from outside: a copy cut short, a disk
    error, a file of another version. The workflow checks every run file with this before it
    builds its job graph (agem.pipeline.run_checks), so a damaged one is retrained rather than
    failing the aggregation after Snakemake removed the previous tables.
    """
    try:
        with h5py.File(path, "r") as f:
            version = f.attrs.get("format_version")
            version = version.item() if isinstance(version, np.generic) else version
            if version != RUN_FORMAT_VERSION:
                return f"has format version {version!r}, this code reads version {RUN_FORMAT_VERSION}"
            missing = [name for name in ("acc_final", "acc_lca", "violations") if name not in f]
            if missing:
                return f"lacks dataset(s) {', '.join(missing)}"
    except OSError as exc:  # a truncated copy fails at open: its superblock's end-of-file is past the end
        return f"is not a readable HDF5 file ({exc})"
    return None


def read_run(path: str | Path) -> RunRecord:
    path = Path(path)
    if not path.is_file():
        raise RunFileError(f"run file {path} does not exist; run the 'train' rule to create it")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise RunFileError(f"run file {path} is not a readable HDF5 file ({exc}); delete it and rerun") from exc
    with f:
        version = f.attrs.get("format_version")
        if isinstance(version, np.generic):  # show 2, not np.int64(2), in the message
            version = version.item()
        if version != RUN_FORMAT_VERSION:
            raise RunFileError(
                f"run file {path} has format version {version!r}, this code reads version "
                f"{RUN_FORMAT_VERSION}; retrain it with this version of agem-repro"
            )
        missing = [name for name in ("acc_final", "acc_lca", "violations") if name not in f]
        if missing:
            raise RunFileError(f"run file {path} lacks dataset(s) {missing}; delete it and rerun")
        return RunRecord(
            dataset=str(f.attrs["dataset"]),
            method=str(f.attrs["method"]),
            seed=int(f.attrs["seed"]),
            acc_final=f["acc_final"][()],
            acc_lca=f["acc_lca"][()],
            violations=f["violations"][()],
            train_seconds=float(f.attrs["train_seconds"]),
            memory_bytes=int(f.attrs["memory_bytes"]),
            config=json.loads(f.attrs["config"]),
            versions=json.loads(f.attrs["versions"]),
            diverged=bool(f.attrs.get("diverged", False)),
            diverged_step=int(f.attrs.get("diverged_step", -1)),
            acc_curve=f["acc_curve"][()] if "acc_curve" in f else None,
            curve_step=f["curve_step"][()] if "curve_step" in f else None,
            acc_memory=f["acc_memory"][()] if "acc_memory" in f else None,
            n_parameters=int(f.attrs.get("n_parameters", 0)),
            hidden_units=int(f.attrs.get("hidden_units", 0)),
        )
