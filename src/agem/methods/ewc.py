"""EWC as in the official A-GEM code (docs/decisions.md#ewc-online-fisher): online Fisher, min–max normalised.

Loss: CE + λ Σ F̂ (θ − θ*)², where F̂ is the online empirical Fisher of the unregularised
mini-batch loss (squared mini-batch gradients; :class:`agem.methods.regularized.OnlineFisher`,
EMA decay 0.9 folded every 10 steps on MNIST-like benchmarks, 50 on the image benchmarks),
taken at the end of each task and min–max normalised to [0, 1] over all parameters. F̂ is
re-assigned at every task end (not accumulated over tasks), while the running estimate behind
it carries over. θ* is the parameters at the end of the previous task.

The official code also sets the running Fisher to the (still zero) window sum at the first step
of the first task; that is a no-op and is left out.
"""

from dataclasses import dataclass

import torch

from agem.data.streams import Task
from agem.methods.base import register
from agem.methods.regularized import (
    ImportanceRegularizedMethod,
    OnlineFisher,
    OnlineFisherHyperparameters,
    RegularizedHyperparameters,
    min_max_normalise,
)


@dataclass
class EWCHyperparameters(OnlineFisherHyperparameters, RegularizedHyperparameters):
    lr: float = 0.03  # paper App. G, MNIST and CIFAR
    lam: float = 10.0


@register("ewc")
class EWC(ImportanceRegularizedMethod):
    Hyperparameters = EWCHyperparameters

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fisher = OnlineFisher(self.flat.values, self.hparams.fisher_update_every, self.hparams.fisher_decay)

    def before_step(self, g: torch.Tensor) -> None:
        if self.fisher.fold_due(self.step_in_task):
            self.fisher.fold()
            self.fisher.clear_window()  # EWC starts a new window (RWALK does not)
        self.fisher.add_square(g)

    def consolidate(self, task: Task) -> None:
        self.importance.copy_(min_max_normalise(self.fisher.running))
        self.fisher.clear_window()

    def state_tensors(self) -> list[torch.Tensor]:
        return [self.fisher.running, self.fisher.window]
