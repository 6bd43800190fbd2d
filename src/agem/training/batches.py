"""The order in which training examples reach a method: a seeded shuffle per task and epoch,
or one shuffled pass over the union of all tasks (MULTI-TASK)."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from agem.data.streams import Task
from agem.methods import Batch


def task_batches(task: Task, batch_size: int, epochs: int, generator: torch.Generator) -> Iterator[Batch]:
    for _ in range(epochs):
        order = torch.randperm(task.n_train, generator=generator).to(task.stream.device)
        for positions in order.split(batch_size):
            x, y = task.train_batch(positions)
            yield Batch(x, y, torch.full_like(y, task.index))


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
