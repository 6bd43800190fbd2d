"""Benchmark builders: a raw-image source plus a task layout give one HDF5 task stream."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from agem.datasets.digits import load_digits_images
from agem.datasets.tasks import permuted_tasks, split_tasks
from agem.streams import RawImages, StreamHeader, write_stream

# Each source turns its ``source_options`` into images; later benchmarks (MNIST, CIFAR-100, …)
# register here without touching the stream or task code.
SOURCES: dict[str, Callable[..., RawImages]] = {
    "sklearn_digits": load_digits_images,
}


def build_stream(benchmark: str, spec: dict, seed: int, out: str | Path) -> None:
    """Build the task stream of ``benchmark`` (its config ``spec``) for stream ``seed``."""
    source = spec["source"]
    if source not in SOURCES:
        raise ValueError(f"benchmark {benchmark!r}: unknown source {source!r}; known sources: {sorted(SOURCES)}")
    raw = SOURCES[source](**spec.get("source_options", {}))
    n_classes = int(np.max(np.concatenate([raw.train_y, raw.test_y]))) + 1
    if spec["layout"] == "permuted":
        tasks = permuted_tasks(
            len(raw.train_y), len(raw.test_y), int(np.prod(raw.train_x.shape[1:])), n_classes,
            spec["n_tasks"], spec["n_cv_tasks"], seed,
        )
    else:
        tasks = split_tasks(raw.train_y, raw.test_y, spec["classes_per_task"], spec["n_tasks"], spec["n_cv_tasks"], seed)
    header = StreamHeader(benchmark=benchmark, seed=seed, layout=spec["layout"], n_outputs=n_classes, params=spec)
    write_stream(out, header, raw, tasks)
