"""ER-Reservoir: experience replay with a reservoir buffer (Chaudhry et al. 2019, "On Tiny
Episodic Memories in Continual Learning"), a method defined outside agem-repro.

Unlike the built-in ``er``, whose memory is A-GEM's (filled at each task's end), the reservoir
takes examples while the stream goes by, so the current task is replayed too. Every example seen
so far has the same chance to be in the buffer (reservoir sampling, Vitter 1985). The buffer
grows by ``memory_per_task`` slots at each task's start, so at the end of every task it holds as
many examples as A-GEM's memory: the same budget.

Each step: draw as many examples from the buffer as the batch has (before this batch enters
it), take one SGD step on the mean loss of the joined batch, then offer the batch to the
reservoir.
"""

from dataclasses import dataclass

import torch

from agem.methods import Batch, ContinualMethod, Hyperparameters, hparam, register


@dataclass
class ReservoirHyperparameters(Hyperparameters):
    lr: float = 0.1
    replay_batch_size: int = hparam(0, ge=0)  # memory examples per step; 0: as many as the batch has


@register("er_reservoir")
class ExperienceReplayReservoir(ContinualMethod):
    Hyperparameters = ReservoirHyperparameters

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.capacity = 0  # slots so far: memory_per_task per task begun
        self.seen = 0  # examples offered to the reservoir so far
        self.x = self.y = self.task_ids = None

    def begin_task(self, task) -> None:
        super().begin_task(task)
        self.capacity += self.memory_per_task

    def observe(self, batch: Batch) -> torch.Tensor:
        x, y, task_ids = batch.x, batch.y, batch.task_ids
        stored = 0 if self.y is None else len(self.y)
        if stored:
            wanted = self.hparams.replay_batch_size or len(y)
            chosen = torch.randperm(stored, generator=self.generator)[:wanted].to(x.device)
            x = torch.cat([x, self.x[chosen]])
            y = torch.cat([y, self.y[chosen]])
            task_ids = torch.cat([task_ids, self.task_ids[chosen]])
        loss = self.gradient_into(0, x, y, task_ids)  # written out for the MLP, autograd otherwise
        self.flat.sgd_step(self.hparams.lr)
        self.offer(batch)
        return loss

    def offer(self, batch: Batch) -> None:
        """Reservoir sampling: the n-th example seen takes a random slot with probability capacity / n."""
        for i in range(len(batch.y)):
            self.seen += 1
            stored = 0 if self.y is None else len(self.y)
            if stored < self.capacity:
                slot = stored
            else:
                slot = int(torch.randint(self.seen, (1,), generator=self.generator))
                if slot >= self.capacity:
                    continue
            self.store(slot, batch.x[i], batch.y[i], batch.task_ids[i])

    def store(self, slot: int, x: torch.Tensor, y: torch.Tensor, task_id: torch.Tensor) -> None:
        if self.y is None or slot == len(self.y):  # a new slot: grow the buffer by one row
            rows = (x[None], y[None], task_id[None])
            if self.y is None:
                self.x, self.y, self.task_ids = rows
            else:
                self.x, self.y, self.task_ids = (torch.cat([old, new]) for old, new in zip((self.x, self.y, self.task_ids), rows))
        else:
            self.x[slot], self.y[slot], self.task_ids[slot] = x, y, task_id

    def state_bytes(self) -> int:
        buffer = 0 if self.y is None else sum(t.numel() * t.element_size() for t in (self.x, self.y, self.task_ids))
        return super().state_bytes() + buffer
