"""GEM (Lopez-Paz & Ranzato 2017; A-GEM paper Eq. 6–8), the method A-GEM makes cheaper.

Every step computes one gradient per past task on that task's whole episodic memory. If the
current gradient g conflicts with any of them (gᵀg_k < 0), it is replaced by the solution of
GEM's dual quadratic program (``project2cone2``: margin, ε·I), solved with SciPy in
agem.methods.projection. Past-task gradients are written straight into rows of one matrix.
"""

from dataclasses import dataclass

import torch

from agem.methods.base import Batch, Hyperparameters, RehearsalMethod, register
from agem.methods.hparam_checks import hparam
from agem.methods.projection import gem_project

G = 0  # row of the current gradient; rows 1..t hold the t past tasks' gradients


@dataclass
class GEMHyperparameters(Hyperparameters):
    lr: float = 0.1
    margin: float = hparam(0.5, ge=0)  # GEM's "memory_strength"
    eps: float = hparam(1e-3, ge=0)  # ridge added to the dual matrix; without it quadprog fails (GEM issues #2, #4)


@register("gem")
class GEM(RehearsalMethod):
    Hyperparameters = GEMHyperparameters

    def constraint_memories(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """The (x, y, task_ids) memories whose gradients constrain this step: every past task's."""
        return self.memory.per_task()

    def observe(self, batch: Batch):
        past = self.constraint_memories()
        self.flat.ensure_grad_rows(1 + len(past))
        for row, (x, y, ids) in enumerate(past, start=1):
            self.flat.backward_into(row, self.loss(self.model(x), y, ids))
        loss = self.loss(self.model(batch.x), batch.y, batch.task_ids)
        g = self.flat.backward_into(G, loss)
        if past:
            memory_grads = self.flat.grads[1 : 1 + len(past)]
            memory_dot_g = memory_grads @ g
            if bool((memory_dot_g < 0).any()):
                self.violations[self.current_task.index] += 1
                g.copy_(self.project(g, memory_grads, memory_dot_g))
        self.flat.sgd_step(self.hparams.lr, G)
        return loss.detach()

    def project(self, g: torch.Tensor, memory_grads: torch.Tensor, memory_dot_g: torch.Tensor) -> torch.Tensor:
        """The projected gradient when g conflicts with some row of ``memory_grads``."""
        return gem_project(g, memory_grads, self.hparams.margin, self.hparams.eps, memory_dot_g)
