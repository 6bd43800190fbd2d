"""S-GEM (paper Table 3): GEM with one randomly chosen past task's constraint per step.

Each step draws one past task uniformly at random (the official code's
``np.random.randint(0, task)``), computes the gradient on that task's whole episodic memory,
and projects g only if it conflicts with it, with GEM's dual QP on that single row
(:class:`agem.methods.gem.GEM`, whose code this reuses). The memory is the paper's (a per-class
random quota per task, docs/decisions.md#episodic-memory).

The official code projects with A-GEM's closed form instead, g − (gᵀg_k / g_kᵀg_k) g_k: that is
exactly the QP's solution with ``margin: 0`` and ``eps: 0`` (one constraint), so both variants
are a config choice; the defaults are GEM's (margin 0.5, eps 1e-3).
"""

import torch

from agem.methods.base import register
from agem.methods.gem import GEM


@register("sgem")
class StochasticGEM(GEM):
    def constraint_memories(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        past = self.memory.per_task()
        if not past:
            return past
        chosen = int(torch.randint(len(past), (1,), generator=self.generator))
        return [past[chosen]]
