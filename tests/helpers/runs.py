"""Run records made by hand, with known accuracy matrices, and their files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agem.runs.runfile import RunRecord, write_run

NAN = np.nan


ROOT = Path(__file__).resolve().parents[2]


def make_record(dataset: str, method: str, seed: int, accs=(NAN, NAN, NAN), lca: float = NAN,
                train_seconds: float = 1.0, memory_bytes: int = 1000, violations=(0, 0),
                diverged: bool = False, multitask: bool = False) -> RunRecord:
    """A two-task run: acc_final = [[x0, -], [x1, x2]] so A_T = 100 (x1 + x2)/2, F_T = x0 - x1,
    and a flat learning curve so LCA10 = lca. MULTI-TASK runs keep only the last row."""
    x0, x1, x2 = accs
    acc_final = np.array([[NAN if multitask else x0, NAN], [x1, x2]])
    return RunRecord(dataset=dataset, method=method, seed=seed, acc_final=acc_final,
                     acc_lca=np.full((2, 11), lca), violations=np.array(violations),
                     train_seconds=train_seconds, memory_bytes=memory_bytes, diverged=diverged)


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
