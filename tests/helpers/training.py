"""Methods on a tiny network and hand-driven training steps, for the method tests."""

from __future__ import annotations

import torch

from agem.methods import METHODS, Batch, make_hyperparameters
from agem.networks.models import build_network
from helpers.streams import (
    SMALL_MLP,
)


def make_method(stream, name: str, hparams: dict, memory: int = 20, seed: int = 0):
    torch.manual_seed(seed)
    model = build_network(SMALL_MLP, stream.input_shape, stream.n_outputs)
    method = METHODS[name](model, stream, make_hyperparameters(name, hparams), memory, torch.Generator().manual_seed(seed))
    return model, method


def batches(task, n: int, start: int = 0, size: int = 10):
    for b in range(start, start + n):
        x, y = task.train_batch(torch.arange(b * size, (b + 1) * size))
        yield Batch(x, y, torch.full_like(y, task.index))


def copy_of(model):
    """A separate network with the same weights (no storage shared with ``model``)."""
    twin = build_network(SMALL_MLP, (model.layers[0].in_features,), model.layers[-1].out_features)
    twin.load_state_dict({k: v.clone() for k, v in model.state_dict().items()})
    return twin


def parameters(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()]).clone()


def _train_past_tasks(method, tasks, steps: int = 6):
    for task in tasks:
        method.begin_task(task)
        for batch in batches(task, steps):
            method.observe(batch)
        method.end_task(task)
