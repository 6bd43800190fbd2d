"""ER, experience replay (Chaudhry et al. 2019, "On Tiny Episodic Memories in Continual
Learning"): beyond the A-GEM paper, the strongest simple baseline of the same authors' follow-up.

Each step concatenates the current batch with an equally large batch drawn without replacement
from the episodic memory and takes one plain SGD step on the mean loss of the joint batch (one
forward pass, so batch-norm statistics see both halves). The memory is A-GEM's
(:class:`~agem.methods.memory.EpisodicMemory`, filled at each task's end with the same budget),
not the follow-up paper's ring buffer filled while the task streams by: ER therefore replays only
past tasks, like A-GEM, and the two differ only in how they use the same memory
(docs/decisions.md#experience-replay).
"""

import torch

from agem.methods.base import Batch, RehearsalMethod, register


@register("er")
class ExperienceReplay(RehearsalMethod):
    """Only ``lr`` to set: the memory batch is as large as the current one, as in the follow-up paper."""

    def observe(self, batch: Batch) -> torch.Tensor:
        if len(self.memory) == 0:  # first task: plain SGD
            return super().observe(batch)
        x_mem, y_mem, ids_mem = self.memory.sample(len(batch.y))
        x = torch.cat([batch.x, x_mem])
        y = torch.cat([batch.y, y_mem])
        task_ids = torch.cat([batch.task_ids, ids_mem])
        loss = self.gradient_into(0, x, y, task_ids)
        self.flat.sgd_step(self.hparams.lr)
        return loss
