"""A-GEM (paper §4, Eq. 11): project the gradient when it increases the average memory loss.

Each step computes g on the current batch and g_ref on a batch drawn without replacement from
the episodic memory of all past tasks; if gᵀg_ref < 0, g is replaced by
g − (gᵀg_ref / g_refᵀg_ref) g_ref. Both gradients live side by side in flat buffers
(agem.methods.flat) and the projection runs on the training device.
"""

from dataclasses import dataclass

from agem.methods.base import Batch, Hyperparameters, RehearsalMethod, register
from agem.methods.hparam_checks import hparam
from agem.methods.projection import agem_project_

G, G_REF = 0, 1


@dataclass
class AGEMHyperparameters(Hyperparameters):
    lr: float = 0.1
    ref_batch_size: int = hparam(256, ge=1)  # paper §2 table: 256 on MNIST (and CIFAR in the code), 128 on CUB/AWA


@register("agem")
class AGEM(RehearsalMethod):
    Hyperparameters = AGEMHyperparameters

    def gradient_rows(self) -> int:
        return 2

    def observe(self, batch: Batch):
        if len(self.memory) == 0:  # first task: plain SGD
            return super().observe(batch)
        # The reference pass runs in training mode, so batch-norm statistics see the memory too,
        # as in the official code (docs/decisions.md#reference-pass-bn).
        x_ref, y_ref, ids_ref = self.memory.sample(self.hparams.ref_batch_size)
        g_ref = self.flat.backward_into(G_REF, self.loss(self.model(x_ref), y_ref, ids_ref))
        loss = self.loss(self.model(batch.x), batch.y, batch.task_ids)
        g = self.flat.backward_into(G, loss)
        if agem_project_(g, g_ref):
            self.violations[self.current_task.index] += 1
        self.flat.sgd_step(self.hparams.lr, G)
        return loss.detach()
