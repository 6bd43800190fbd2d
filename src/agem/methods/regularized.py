"""Importance-weighted quadratic penalties: the shared core of EWC, PI, MAS and RWALK.

All four regularisation baselines of the paper (docs/decisions.md#regularizer-penalty) train on the cross-entropy plus

    λ Σ_i Ω_i (θ_i − θ*_i)²        (the official code's ``reg``: no ½)

where θ* are the parameters at the end of the previous task (at initialisation during the first
task: the official ``init_updates`` stores them then) and Ω is the method's importance, all
zeros until the first task ends. They differ only in how Ω is estimated, which the subclasses do
through three hooks:

* :meth:`ImportanceRegularizedMethod.before_step` sees the gradient g of the *unregularised*
  loss before the update (EWC's and RWALK's online Fisher are built from it);
* :meth:`after_step` sees g and the applied update direction u = g + 2λΩ⊙(θ − θ*), the step
  being θ ← θ − lr·u (PI's and RWALK's path integral −g·Δθ = lr·g·u);
* :meth:`consolidate` sets Ω at the end of a task, before θ* moves to the current parameters.

The penalty's gradient 2λΩ⊙(θ − θ*) is computed on the flat parameter vector (agem.methods.flat) and
added to g directly, without autograd. :class:`OnlineFisher` is the official code's online
Fisher estimate, shared by EWC and RWALK. This module registers no method.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from agem.data.streams import Task
from agem.methods.base import Batch, ContinualMethod, Hyperparameters
from agem.methods.hparam_checks import hparam

# The official code's EPSILON, added to (max − min) when min–max normalising importances.
NORMALISATION_EPSILON = 1e-32


@dataclass
class RegularizedHyperparameters(Hyperparameters):
    lam: float = hparam(1.0, ge=0)  # λ, the official code's "synap_stgth"


@dataclass
class OnlineFisherHyperparameters:
    """The official code's online Fisher: folded into an EMA every ``fisher_update_every`` steps."""

    fisher_update_every: int = hparam(10, ge=1)  # 10 on MNIST-like benchmarks, 50 on the image benchmarks
    fisher_decay: float = hparam(0.9, gt=0, le=1)  # weight of the newest window in the EMA (the code's FISHER_EMA_DECAY)


@dataclass
class PathIntegralHyperparameters:
    xi: float = hparam(1e-3, gt=0)  # ξ, the damping of the path-integral importance (the code's PARAM_XI_STEP)


def min_max_normalise(values: torch.Tensor) -> torch.Tensor:
    """(v − min v) / (max v − min v + ε) over the whole vector, as the official code normalises
    Fisher and RWALK scores (per-layer extremes, then the extremes over all layers: the same)."""
    low, high = values.min(), values.max()
    return (values - low) / (high - low + NORMALISATION_EPSILON)


def add_path_integral_(path: torch.Tensor, g: torch.Tensor, update: torch.Tensor, lr: float) -> None:
    """path += −g·Δθ for the step θ ← θ − lr·u just taken (Δθ = −lr·u): PI's and RWALK's ω
    (the official code's ``update_small_omega``), with g the unregularised gradient."""
    path.addcmul_(g, update, value=lr)


class OnlineFisher:
    """The official code's online empirical Fisher (``create_fisher_ops``; RWalk paper Eq. 10).

    Every step adds g² of the unregularised mini-batch loss to a window sum; at every step s
    (counted from 0 within the task) with (s + 1) divisible by ``update_every``, before that
    step's square is added, the window is folded into the running estimate:

        running ← (1 − decay)·running + (decay / update_every)·window

    The running estimate carries over from task to task; the window is emptied at each task end.
    """

    def __init__(self, like: torch.Tensor, update_every: int, decay: float):
        self.update_every = update_every
        self.decay = decay
        self.running = torch.zeros_like(like)
        self.window = torch.zeros_like(like)

    def fold_due(self, step_in_task: int) -> bool:
        return (step_in_task + 1) % self.update_every == 0

    def fold(self) -> None:
        self.running.mul_(1 - self.decay).add_(self.window, alpha=self.decay / self.update_every)

    def add_square(self, g: torch.Tensor) -> None:
        self.window.addcmul_(g, g)

    def clear_window(self) -> None:
        self.window.zero_()


class ImportanceRegularizedMethod(ContinualMethod):
    """SGD on CE + λ Σ Ω (θ − θ*)²; subclasses estimate Ω (see the module docstring)."""

    Hyperparameters = RegularizedHyperparameters

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        values = self.flat.values
        self.importance = torch.zeros_like(values)  # Ω
        self.anchor = values.detach().clone()  # θ*
        self.update = torch.zeros_like(values)  # u, the direction of the step being taken
        self.step_in_task = 0
        self.tasks_done = 0

    # --- hooks ----------------------------------------------------------------------------------
    def before_step(self, g: torch.Tensor) -> None:
        """Called with the unregularised gradient g before the parameters move."""

    def after_step(self, g: torch.Tensor, update: torch.Tensor) -> None:
        """Called after θ ← θ − lr·update, with the unregularised gradient g."""

    def consolidate(self, task: Task) -> None:
        """Set ``self.importance`` at the end of ``task`` (θ* still holds the previous anchor)."""
        raise NotImplementedError

    def state_tensors(self) -> list[torch.Tensor]:
        """Per-parameter state of the subclass beyond Ω, θ* and u (counted in state_bytes)."""
        return []

    # --- the training loop's interface ----------------------------------------------------------
    def begin_task(self, task: Task) -> None:
        super().begin_task(task)
        self.step_in_task = 0

    def observe(self, batch: Batch) -> torch.Tensor:
        loss = self.gradient_into(0, batch.x, batch.y, batch.task_ids)
        g = self.flat.grads[0]
        self.before_step(g)
        penalty = self.penalised_direction_(g)
        self.flat.values.add_(self.update, alpha=-self.hparams.lr)
        self.after_step(g, self.update)
        self.step_in_task += 1
        # The regularised loss, like the official code's ``reg_loss`` (checked for NaN there too).
        return loss + penalty

    def end_task(self, task: Task) -> None:
        self.consolidate(task)
        self.anchor.copy_(self.flat.values)
        self.tasks_done += 1

    def penalised_direction_(self, g: torch.Tensor) -> torch.Tensor:
        """Write u = g + 2λΩ⊙(θ − θ*) into ``self.update``; return λ Σ Ω (θ − θ*)²."""
        lam = self.hparams.lam
        difference = torch.sub(self.flat.values, self.anchor, out=self.update)
        weighted = self.importance * difference
        penalty = lam * torch.dot(weighted, difference)
        torch.add(g, weighted, alpha=2 * lam, out=self.update)
        return penalty

    def state_bytes(self) -> int:
        tensors = [self.importance, self.anchor, self.update, *self.state_tensors()]
        return super().state_bytes() + sum(t.numel() * t.element_size() for t in tensors)
