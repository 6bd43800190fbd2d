"""MULTI-TASK: one shuffled pass over all tasks' training data together (the paper's upper bound).

On the split benchmarks the official code trains MULTI-TASK with the output mask switched off
(``logit_mask[:] = 1.0`` in ``conv_split_cifar.py`` and ``conv_split_cub.py`` at 5e84338): the
loss is the softmax cross-entropy over *all* outputs (100 on CIFAR, 200 on CUB), and only the
evaluation masks each example to its task's classes. That is the default here
(``masked_training: false``); ``masked_training: true`` gives each training example its own
task's mask instead, the loss the sequential methods see for that task. With one shared head
(the permuted benchmarks) there is no mask and both are the same.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from agem.methods.base import ContinualMethod, Hyperparameters, register


@dataclass
class MultiTaskHyperparameters(Hyperparameters):
    masked_training: bool = False  # the official code: unmasked loss, masked evaluation

    def __post_init__(self):
        if not isinstance(self.masked_training, bool):
            raise ValueError(f"masked_training must be true or false, got {self.masked_training!r}")  # noqa: TRY004 (config checks catch ValueError)


@register("multitask")
class MultiTask(ContinualMethod):
    Hyperparameters = MultiTaskHyperparameters
    joint_training = True

    def loss(self, logits: torch.Tensor, y: torch.Tensor, task_ids: torch.Tensor) -> torch.Tensor:
        if self.hparams.masked_training:
            return super().loss(logits, y, task_ids)
        return F.cross_entropy(logits, y)
