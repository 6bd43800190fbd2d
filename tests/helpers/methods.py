"""Helpers for the per-method tests (tests/test_methods_*.py): tiny hand-made streams, a method
on a tiny model, and float64 reference computations written independently of the library."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from agem.data.stream_files import StreamHeader, TaskSpec, write_stream
from agem.data.streams import TaskStream, load_stream
from agem.methods import METHODS, Batch, make_hyperparameters
from agem.networks.models import MLP
from helpers.references import restricted_loss, task_classes
from helpers.streams import handmade_raw


def tiny_stream(path: Path, n_tasks: int = 3, n_train: int = 25, n_inputs: int = 2, shared_head: bool = True, seed: int = 0) -> TaskStream:
    """``n_tasks`` tasks of ``n_train`` training examples with ``n_inputs`` pixels, 2 classes each.

    ``shared_head``: every task uses classes {0, 1} (one head, like the permuted benchmarks);
    else task k has classes {2k, 2k + 1} and the other outputs are masked (multi-head).
    """
    rng = np.random.default_rng(seed)
    n_test = 6
    labels_train = rng.integers(0, 2, n_tasks * n_train)
    labels_test = rng.integers(0, 2, n_tasks * n_test)
    offsets = np.repeat(np.zeros(n_tasks, dtype=np.int64) if shared_head else 2 * np.arange(n_tasks), n_train)
    test_offsets = np.repeat(np.zeros(n_tasks, dtype=np.int64) if shared_head else 2 * np.arange(n_tasks), n_test)
    raw = handmade_raw(labels_train + offsets, labels_test + test_offsets, shape=(n_inputs,), seed=seed)
    raw.train_x[:] = rng.integers(0, 256, raw.train_x.shape)  # random pixels, not the index stamps
    raw.test_x[:] = rng.integers(0, 256, raw.test_x.shape)
    tasks = []
    for k in range(n_tasks):
        classes = np.array([0, 1]) if shared_head else np.array([2 * k, 2 * k + 1])
        tasks.append(TaskSpec("eval", classes, np.arange(k * n_train, (k + 1) * n_train), np.arange(k * n_test, (k + 1) * n_test)))
    n_outputs = 2 if shared_head else 2 * n_tasks
    write_stream(path, StreamHeader("handmade", seed, "split", n_outputs, {"note": "test"}), raw, tasks)
    return load_stream(path)


def linear_method(stream: TaskStream, name: str, hparams: dict, memory: int = 4, seed: int = 0, dtype=torch.float32):
    """A method on a single linear layer (n_inputs → n_outputs), the tiniest MLP."""
    torch.manual_seed(seed)
    model = MLP(int(np.prod(stream.input_shape)), [], stream.n_outputs).to(dtype)
    method = METHODS[name](model, stream, make_hyperparameters(name, hparams), memory, torch.Generator().manual_seed(seed))
    return model, method


def task_batches(task, size: int, dtype=torch.float32) -> list[Batch]:
    """The task's training set in stored order, cut into batches of ``size`` (last one may be smaller)."""
    positions = torch.arange(task.n_train)
    batches = []
    for chunk in positions.split(size):
        x, y = task.train_batch(chunk)
        batches.append(Batch(x.to(dtype), y, torch.full_like(y, task.index)))
    return batches


def flat_parameters(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()]).double().clone()


class Float64Twin:
    """The linear model as plain float64 tensors θ = (W, b) flattened like ``model.parameters()``."""

    def __init__(self, model, stream: TaskStream):
        linear = model.layers[0]
        self.shapes = [tuple(linear.weight.shape), tuple(linear.bias.shape)]
        self.theta = flat_parameters(model)
        self.stream = stream

    def split(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = int(np.prod(self.shapes[0]))
        return theta[:n].view(self.shapes[0]), theta[n:].view(self.shapes[1])

    def logits(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.split(theta)
        return x.double().flatten(1) @ weight.T + bias

    def loss(self, theta: torch.Tensor, batch: Batch) -> torch.Tensor:
        return restricted_loss(self.logits(theta, batch.x), batch.y, task_classes(self.stream, batch.task_ids))

    def gradient(self, theta: torch.Tensor, batch: Batch) -> torch.Tensor:
        theta = theta.clone().requires_grad_()
        (grad,) = torch.autograd.grad(self.loss(theta, batch), theta)
        return grad


def assert_step_descends_regularised_loss(stream: TaskStream, name: str, hparams: dict) -> None:
    """After one task (so Ω ≠ 0 and θ* is set), every step on the next task is SGD on
    CE + λ Σ Ω (θ − θ*)²: the applied update / lr equals that loss's gradient by central finite
    differences in float64 (at the method's float32 state, exactly representable), and the
    returned loss equals its value."""
    model, method = linear_method(stream, name, hparams)
    first, second = stream.tasks[:2]
    method.begin_task(first)
    for batch in task_batches(first, 5):
        method.observe(batch)
    method.end_task(first)
    importance, anchor = method.importance.double().clone(), method.anchor.double().clone()
    assert bool((importance > 0).any()), "the first task left no importance: the penalty would be untested"
    twin = Float64Twin(model, stream)
    lam, lr, h = hparams["lam"], hparams["lr"], 1e-6

    def regularised(theta, batch):
        return float(twin.loss(theta, batch)) + lam * float((importance * (theta - anchor) ** 2).sum())

    method.begin_task(second)
    first_step, *checked = task_batches(second, 5)[:4]
    method.observe(first_step)  # θ starts at θ*; after one step the penalty pulls back
    for batch in checked:
        theta = flat_parameters(model)
        assert not torch.equal(theta, anchor)  # θ has left θ*: the penalty's gradient is non-zero
        basis = torch.eye(len(theta), dtype=torch.float64)
        finite_differences = torch.tensor(
            [(regularised(theta + h * e, batch) - regularised(theta - h * e, batch)) / (2 * h) for e in basis], dtype=torch.float64
        )
        loss = method.observe(batch)
        applied = (theta - flat_parameters(model)) / lr
        torch.testing.assert_close(applied, finite_differences, rtol=1e-4, atol=1e-5 * float(finite_differences.abs().max()))
        assert float(loss) == pytest.approx(regularised(theta, batch), rel=1e-5)
