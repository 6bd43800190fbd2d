"""S-GEM (paper Table 3): one randomly chosen past task's constraint per step.

Each step draws one past task uniformly at random (the official code's
``np.random.randint(0, task)``), computes the gradient g_k on that task's whole episodic memory,
and projects g only if it conflicts with it (gᵀg_k < 0). The memory is the paper's (a per-class
random quota per task, docs/decisions.md#episodic-memory).

The official S-GEM (``create_stochastic_gem_ops`` and ``fc_permute_mnist.py`` before 77c5244)
projects with A-GEM's closed form, g − (gᵀg_k / g_kᵀg_k) g_k: no margin, no ridge. That is
exactly GEM's dual QP on the single row with ``margin: 0`` and ``eps: 0``, so the hyper-parameters
say which form runs: margin 0 and eps 0 (the defaults, the paper's Table 3) use the closed form
directly; any other values solve GEM's QP on that row (:class:`agem.methods.gem.GEM`, whose
code this reuses), e.g. GEM's own margin 0.5 and eps 1e-3.
"""

from dataclasses import dataclass

import torch

from agem.methods.base import register
from agem.methods.gem import GEM, GEMHyperparameters
from agem.methods.projection import agem_project


@dataclass
class SGEMHyperparameters(GEMHyperparameters):
    margin: float = 0.0  # the official S-GEM: A-GEM's closed form (margin 0, no ridge)
    eps: float = 0.0


@register("sgem")
class StochasticGEM(GEM):
    Hyperparameters = SGEMHyperparameters

    def constraint_memories(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        past = self.memory.per_task()
        if not past:
            return past
        chosen = int(torch.randint(len(past), (1,), generator=self.generator))
        return [past[chosen]]

    def project(self, g: torch.Tensor, memory_grads: torch.Tensor, memory_dot_g: torch.Tensor) -> torch.Tensor:
        if self.hparams.margin == 0 and self.hparams.eps == 0:
            return agem_project(g, memory_grads[0])
        return super().project(g, memory_grads, memory_dot_g)
