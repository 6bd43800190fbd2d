"""Networks of the paper (§3 of agem-paper.md), built by name from the config."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn


class MLP(nn.Module):
    """Fully connected ReLU network (Permuted MNIST: 784-256-256-10).

    Initialised like the official TensorFlow code: weights from a normal with std 0.1 truncated
    at two standard deviations, biases 0.1.
    """

    def __init__(self, n_inputs: int, hidden: list[int], n_outputs: int):
        super().__init__()
        sizes = [n_inputs, *hidden]
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], n_outputs))
        self.layers = nn.Sequential(*layers)
        for module in self.layers:
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.1, a=-0.2, b=0.2)
                nn.init.constant_(module.bias, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))


def _mlp(input_shape: tuple[int, ...], n_outputs: int, hidden: list[int] = (256, 256)) -> nn.Module:
    return MLP(math.prod(input_shape), list(hidden), n_outputs)


# name -> factory(input_shape, n_outputs, **options)
NETWORKS: dict[str, Callable[..., nn.Module]] = {
    "mlp": _mlp,
}


def hidden_units(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """H of the paper's memory formulas (Table 7): activations per example of the hidden layers.

    Counted as the output sizes of every linear or convolutional layer but the last one, on one
    forward pass of a single zero input.
    """
    sizes: list[int] = []
    hooks = [
        module.register_forward_hook(lambda _m, _i, out: sizes.append(out[0].numel()))
        for module in model.modules()
        if isinstance(module, (nn.Linear, nn.Conv2d))
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            device = next(model.parameters()).device
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return sum(sizes[:-1])


def build_network(spec: dict, input_shape: tuple[int, ...], n_outputs: int) -> nn.Module:
    options = {key: value for key, value in spec.items() if key != "type"}
    kind = spec.get("type")
    if kind not in NETWORKS:
        raise ValueError(f"unknown network type {kind!r}; known types: {sorted(NETWORKS)}")
    return NETWORKS[kind](tuple(input_shape), n_outputs, **options)
