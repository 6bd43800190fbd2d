"""The order in which training examples reach a method: a seeded shuffle per task and epoch,
or one shuffled pass over the union of all tasks (MULTI-TASK).

The examples of a shuffled pass are gathered (normalised and permuted, :meth:`Task.train_batch`)
in large chunks of consecutive batches, not batch by batch: a batch is then a view into the
chunk, and a training step does no gathering of its own. Gathering is row-wise and element-wise,
so a batch cut from a chunk holds exactly the same floats as the same batch gathered alone; the
order (one ``randperm`` per epoch from the run's shuffle generator) is unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from agem.data.streams import Task
from agem.methods import Batch

# Bytes of gathered inputs held at once: a whole Permuted MNIST epoch (55,000 × 784 floats,
# 172 MB) fits in one chunk; 224×224 images (CUB, AWA) come in chunks of ~220 examples.
CHUNK_BYTES = 256 * 2**20


def examples_per_chunk(task: Task, batch_size: int, chunk_bytes: int = CHUNK_BYTES) -> int:
    """Whole batches per chunk that fit in ``chunk_bytes`` (at least one batch)."""
    bytes_per_example = 4 * math.prod(task.stream.input_shape)  # float32 after normalisation
    return batch_size * max(1, chunk_bytes // (bytes_per_example * batch_size))


def task_batches(task: Task, batch_size: int, epochs: int, generator: torch.Generator, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Batch]:
    chunk = examples_per_chunk(task, batch_size, chunk_bytes)
    for _ in range(epochs):
        order = torch.randperm(task.n_train, generator=generator).to(task.stream.device)
        for positions in order.split(chunk):
            x, y = task.train_batch(positions)
            ids = torch.full_like(y, task.index)
            for batch in zip(x.split(batch_size), y.split(batch_size), ids.split(batch_size)):
                yield Batch(*batch)


def joint_batches(tasks: list[Task], batch_size: int, epochs: int, generator: torch.Generator) -> Iterator[Batch]:
    """Batches of one shuffled pass over the union of all tasks' training sets (MULTI-TASK)."""
    owner = torch.cat([torch.full((t.n_train,), i) for i, t in enumerate(tasks)])
    position = torch.cat([torch.arange(t.n_train) for t in tasks])
    for _ in range(epochs):
        order = torch.randperm(len(owner), generator=generator)
        for chosen in order.split(batch_size):
            parts = [(tasks[i], position[chosen][owner[chosen] == i]) for i in owner[chosen].unique().tolist()]
            pieces = [task.train_batch(pos.to(task.stream.device)) for task, pos in parts]
            y = torch.cat([p[1] for p in pieces])
            ids = torch.cat([torch.full_like(p[1], task.index) for (task, _), p in zip(parts, pieces)])
            yield Batch(torch.cat([p[0] for p in pieces]), y, ids)
