"""PI, path integral / synaptic intelligence (Zenke et al. 2017), as in the official A-GEM code.

Every step adds ω += −g·Δθ, with g the gradient of the unregularised loss and Δθ the step the
parameters actually took (penalty included; the code's ``update_small_omega``). At the end of a
task the importance grows by

    Ω += ReLU(ω / (ξ + (θ − θ*)²)),    ξ = 1e-3,

with θ* the parameters at the start of that task; ω is then reset. Ω is never normalised. Loss:
CE + λ Σ Ω (θ − θ*)². The paper reports PI on Permuted MNIST as "fails to train" (∞): a
diverging run is recorded by the training loop, not raised.
"""

from dataclasses import dataclass

import torch

from agem.data.streams import Task
from agem.methods.base import register
from agem.methods.regularized import (
    ImportanceRegularizedMethod,
    PathIntegralHyperparameters,
    RegularizedHyperparameters,
    add_path_integral_,
)


@dataclass
class PIHyperparameters(PathIntegralHyperparameters, RegularizedHyperparameters):
    lr: float = 0.1  # paper App. G, MNIST
    lam: float = 0.1


@register("pi")
class PathIntegral(ImportanceRegularizedMethod):
    Hyperparameters = PIHyperparameters

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.path = torch.zeros_like(self.flat.values)  # ω

    def after_step(self, g: torch.Tensor, update: torch.Tensor) -> None:
        add_path_integral_(self.path, g, update, self.hparams.lr)

    def consolidate(self, task: Task) -> None:
        distance = (self.flat.values - self.anchor).square_().add_(self.hparams.xi)
        self.importance.add_(torch.relu(self.path / distance))
        self.path.zero_()

    def state_tensors(self) -> list[torch.Tensor]:
        return [self.path]
