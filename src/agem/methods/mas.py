"""MAS, memory-aware synapses (Aljundi et al. 2018), as in the official A-GEM code.

At the end of each task Ω is reset and recomputed on that task's training set, in its stored
order and in batches of 10 (the code's ``task_updates``: only whole batches, the sum divided by
the number of training examples):

    Ω = (1/N) Σ_batches | ∂ Σ_{x ∈ batch} ‖f(x)‖² / ∂θ |,

with f(x) the logits of the task's own classes (the masked logits on multi-head benchmarks, all
logits with one shared head), computed with the network in evaluation mode (batch norm uses its
running statistics, ``train_phase: False``). Loss: CE + λ Σ Ω (θ − θ*)².
"""

from dataclasses import dataclass

import torch

from agem.data.streams import Task
from agem.methods.base import register
from agem.methods.regularized import (
    ImportanceRegularizedMethod,
    RegularizedHyperparameters,
)

IMPORTANCE_BATCH_SIZE = 10  # the official code's batch size for the importance pass


@dataclass
class MASHyperparameters(RegularizedHyperparameters):
    lr: float = 0.1  # paper App. G, MNIST
    lam: float = 0.1


@register("mas")
class MAS(ImportanceRegularizedMethod):
    Hyperparameters = MASHyperparameters

    def consolidate(self, task: Task) -> None:
        masks = self.stream.output_masks
        own_outputs = None if masks is None else masks[task.index]
        self.importance.zero_()
        was_training = self.model.training
        self.model.eval()
        positions = torch.arange(task.n_train, device=self.stream.device)
        for start in range(0, task.n_train - IMPORTANCE_BATCH_SIZE + 1, IMPORTANCE_BATCH_SIZE):
            x, _ = task.train_batch(positions[start : start + IMPORTANCE_BATCH_SIZE])
            logits = self.model(x)
            if own_outputs is not None:
                logits = logits[:, own_outputs]
            self.importance.add_(self.flat.backward_into(0, logits.square().sum()).abs())
        self.model.train(was_training)
        self.importance.div_(task.n_train)
