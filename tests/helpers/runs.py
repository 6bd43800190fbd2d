"""Run records made by hand, with known accuracy matrices, and their files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from agem.runs.runfile import RunRecord, write_run

NAN = np.nan


ROOT = Path(__file__).resolve().parents[2]


def make_record(dataset: str, method: str, seed: int, accs=(NAN, NAN, NAN), lca: float = NAN,
                train_seconds: float = 1.0, memory_bytes: int = 1000, violations=(0, 0),
                diverged: bool = False, multitask: bool = False, diverged_step: int | None = None) -> RunRecord:
    """A two-task run: acc_final = [[x0, -], [x1, x2]] so A_T = 100 (x1 + x2)/2, F_T = x0 - x1,
    and a flat learning curve so LCA10 = lca. MULTI-TASK runs keep only the last row. A diverged
    run diverged at ``diverged_step`` (default: its first step)."""
    x0, x1, x2 = accs
    acc_final = np.array([[NAN if multitask else x0, NAN], [x1, x2]])
    if diverged_step is None:
        diverged_step = 0 if diverged else -1
    return RunRecord(dataset=dataset, method=method, seed=seed, acc_final=acc_final,
                     acc_lca=np.full((2, 11), lca), violations=np.array(violations),
                     train_seconds=train_seconds, memory_bytes=memory_bytes, diverged=diverged, diverged_step=diverged_step)


def with_identity(record: RunRecord) -> RunRecord:
    """The record with the config a workflow job writes beside its attributes (dataset, method,
    seed, training settings), so that a changed attribute disagrees with it."""
    training = {"evaluate_future_tasks": False, "lca_batches": record.acc_lca.shape[1] - 1}
    return dataclasses.replace(record, config={**record.config, "dataset": record.dataset, "method": record.method,
                                               "seed": record.seed, "training": training})


RECORDS = [
    # A_T 70 / 80, F_T 0.4 / 0.2, LCA 0.2 / 0.4, time 10 / 20
    make_record("mnist", "van", 0, (0.9, 0.5, 0.9), 0.2, 10.0, 1000),
    make_record("mnist", "van", 1, (0.9, 0.7, 0.9), 0.4, 20.0, 1000),
    # A_T 80 / 90, F_T 0.1 / 0.0, LCA 0.3 / 0.3, time 40 / 60, memory max 3100
    make_record("mnist", "agem", 0, (0.9, 0.8, 0.8), 0.3, 40.0, 3000, (0, 3)),
    make_record("mnist", "agem", 1, (0.9, 0.9, 0.9), 0.3, 60.0, 3100, (0, 5)),
    # seed 1 diverged: only seed 0 counts (A_T 50, F_T 0.2, LCA 0.25, time 5), memory max 700
    make_record("cifar", "van", 0, (0.6, 0.4, 0.6), 0.25, 5.0, 500),
    make_record("cifar", "van", 1, train_seconds=2.0, memory_bytes=700, diverged=True),
    # A_T 60 / 65, F_T 0.1 / 0.0, LCA 0.35 / 0.45, time 30 / 32
    make_record("cifar", "agem", 0, (0.6, 0.5, 0.7), 0.35, 30.0, 2000, (0, 1)),
    make_record("cifar", "agem", 1, (0.6, 0.6, 0.7), 0.45, 32.0, 2000, (0, 2)),
]


def write_records(directory: Path, records) -> list[Path]:
    paths = []
    for r in records:
        path = directory / r.dataset / r.method / f"seed{r.seed}.h5"
        write_run(path, r)
        paths.append(path)
    return paths


# ---- Run files that record how they were made (identity and benchmark; agem.runs.identity) -----

IDENTITY_BENCHMARK = {
    "source": "sklearn_digits", "source_options": {"test_fraction": 0.2, "split_seed": 0}, "layout": "permuted",
    "n_tasks": 2, "n_cv_tasks": 0, "memory_per_task": 10, "network": {"type": "mlp", "hidden": [8]},
}


def write_identity_run(root: Path, dataset: str, method: str, seed: int, hparams: dict | None = None,
                       benchmark: dict | None = None, record_identity: bool = True, record_benchmark: bool = True,
                       **fields) -> Path:
    """A run file under ``root/results/runs`` that records its identity (at the identity's path)
    and, in its ``config`` attribute, the job settings with the benchmark's entry. With
    ``record_identity=False`` and ``record_benchmark=False``: a run file made before either was
    recorded, at the old path ``{dataset}/{method}/seed{seed}.h5``. ``fields``: other identity fields."""
    import h5py

    from agem.data.stream_files import spec_digest
    from agem.runs.identity import RunIdentity

    benchmark = dict(IDENTITY_BENCHMARK if benchmark is None else benchmark)
    stream_part = {k: v for k, v in benchmark.items() if k not in ("memory_per_task", "network", "resources", "seeds", "methods")}
    settings = {
        "dataset": dataset, "method": method, "hparams": hparams or {"lr": 0.1}, "network": benchmark["network"],
        "memory_per_task": benchmark["memory_per_task"], "training": {"batch_size": 10, "epochs": 1},
        "device": "cpu", "stream_spec_sha256": spec_digest(stream_part), "train_threads": 1, **fields,
    }
    identity = RunIdentity.from_settings(settings, seed)
    if record_benchmark:
        settings["benchmark"] = benchmark
    record = make_record(dataset, method, seed, (0.9, 0.5, 0.9), 0.2)
    record.config = {**settings, "seed": seed, "stream": f"results/streams/{dataset}/seed{seed}.h5", "threads": 1}
    path = Path(identity.run_path(str(root / "results"))) if record_identity else root / "results" / "runs" / dataset / method / f"seed{seed}.h5"
    write_run(path, record)
    if record_identity:
        with h5py.File(path, "a") as f:
            f.attrs["identity"] = identity.to_json()
    return path
