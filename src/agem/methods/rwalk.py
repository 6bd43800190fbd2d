"""RWALK, Riemannian walk (Chaudhry et al. 2018), as in the official A-GEM code.

Ω = normalised Fisher + normalised path score, both min–max normalised to [0, 1] at each task
end. The Fisher is the online one of EWC (:class:`agem.methods.regularized.OnlineFisher`). The
path score is PI's ω = Σ −g·Δθ, turned into a score every ``fisher_update_every`` steps with the
Riemannian (Fisher-weighted) distance travelled since the last such update:

    s_task += ReLU(ω / (ξ + F_running ⊙ (θ − θ_window)²)),  then  ω ← 0, θ_window ← θ,

using the running Fisher as it is *before* that step's fold. Details kept from the official code
(``fc_permute_mnist.py`` / ``model.py`` at 5e84338), each different from the RWalk paper:

* the Fisher window sum is *not* emptied at the folds, only at task ends (EWC empties it), so
  the running Fisher grows with the steps of a task — scale-free after normalisation, but it
  weighs the distance in the score;
* at the end of the first task s_task is doubled, and at every task end the accumulated score
  becomes s ← s + (s + s_task)/2 (``tf.assign_add``, although the comment says "averaged");
* Ω = norm(F_running) + norm(s); then s_task, ω and the Fisher window are reset and
  θ_window ← θ.

Loss: CE + λ Σ Ω (θ − θ*)².
"""

from dataclasses import dataclass

import torch

from agem.data.streams import Task
from agem.methods.base import register
from agem.methods.regularized import (
    ImportanceRegularizedMethod,
    OnlineFisher,
    OnlineFisherHyperparameters,
    PathIntegralHyperparameters,
    RegularizedHyperparameters,
    add_path_integral_,
    min_max_normalise,
)


@dataclass
class RWalkHyperparameters(PathIntegralHyperparameters, OnlineFisherHyperparameters, RegularizedHyperparameters):
    lr: float = 0.1  # paper App. G, MNIST
    lam: float = 1.0


@register("rwalk")
class RWalk(ImportanceRegularizedMethod):
    Hyperparameters = RWalkHyperparameters

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        values = self.flat.values
        self.fisher = OnlineFisher(values, self.hparams.fisher_update_every, self.hparams.fisher_decay)
        self.path = torch.zeros_like(values)  # ω since the last fold
        self.window_start = values.detach().clone()  # θ_window
        self.task_score = torch.zeros_like(values)  # s_task
        self.score = torch.zeros_like(values)  # s, accumulated over tasks

    def add_path_score(self) -> None:
        riemannian = (self.flat.values - self.window_start).square_().mul_(self.fisher.running).add_(self.hparams.xi)
        self.task_score.add_(torch.relu(self.path / riemannian))

    def before_step(self, g: torch.Tensor) -> None:
        if self.fisher.fold_due(self.step_in_task):
            self.add_path_score()
            self.fisher.fold()
            self.window_start.copy_(self.flat.values)
            self.path.zero_()
        self.fisher.add_square(g)

    def after_step(self, g: torch.Tensor, update: torch.Tensor) -> None:
        add_path_integral_(self.path, g, update, self.hparams.lr)

    def consolidate(self, task: Task) -> None:
        if self.tasks_done == 0:
            self.task_score.mul_(2)
        self.score.add_((self.score + self.task_score) / 2)
        self.importance.copy_(min_max_normalise(self.fisher.running)).add_(min_max_normalise(self.score))
        self.window_start.copy_(self.flat.values)
        self.path.zero_()
        self.task_score.zero_()
        self.fisher.clear_window()

    def state_tensors(self) -> list[torch.Tensor]:
        return [self.fisher.running, self.fisher.window, self.path, self.window_start, self.task_score, self.score]
