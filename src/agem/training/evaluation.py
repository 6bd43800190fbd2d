"""Test accuracy of a method's predictions, per task (multi-head) or on any batches."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from agem.data.streams import Task
from agem.methods import ContinualMethod


@torch.no_grad()
def accuracy_of(method: ContinualMethod, batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> float:
    """Accuracy of the method's predictions on (x, y, task_ids) batches.

    On streams marked ``balanced_accuracy`` (Split AWA) it is the mean of per-class accuracies.
    """
    model, stream = method.model, method.stream
    was_training = model.training
    model.eval()
    hits = torch.zeros(stream.n_outputs, dtype=torch.long, device=stream.device)
    counts = torch.zeros_like(hits)
    for x, y, task_ids in batches:
        predicted = method.predict(x, task_ids).argmax(1)
        hits += torch.bincount(y[predicted == y], minlength=stream.n_outputs)
        counts += torch.bincount(y, minlength=stream.n_outputs)
    model.train(was_training)
    if stream.balanced_accuracy:
        present = counts > 0
        return float((hits[present].double() / counts[present]).mean())
    return hits.sum().item() / max(counts.sum().item(), 1)


def accuracy(method: ContinualMethod, task: Task, batch_size: int) -> float:
    """Test accuracy on ``task``, predictions restricted to the task's classes (multi-head)."""
    return accuracy_of(method, ((x, y, torch.full_like(y, task.index)) for x, y in task.test_batches(batch_size)))
