"""A-GEM (paper §4, Eq. 11): project the gradient when it increases the average memory loss.

Each step computes g on the current batch and g_ref on a batch drawn without replacement from
the episodic memory of all past tasks; if gᵀg_ref < 0, g is replaced by
g − (gᵀg_ref / g_refᵀg_ref) g_ref. Both gradients live side by side in flat buffers
(agem.methods.flat) and the projection runs on the training device. For the MLP on the CPU,
gᵀg_ref is first computed from the two batches' factors (agem.methods.mlp_gradients), and g_ref
is formed only when that product may be negative: the same steps, with about 45 % less
arithmetic in a step that does not project.
"""

from dataclasses import dataclass

from agem.methods.base import Batch, Hyperparameters, RehearsalMethod, register
from agem.methods.hparam_checks import hparam
from agem.methods.mlp_gradients import surely_non_negative
from agem.methods.projection import agem_project_, agem_project_on_device_

G, G_REF = 0, 1


@dataclass
class AGEMHyperparameters(Hyperparameters):
    lr: float = 0.1
    ref_batch_size: int = hparam(256, ge=1)  # paper §2 table: 256 on MNIST (and CIFAR in the code), 128 on CUB/AWA
    # How the memory is filled and g_ref's batch drawn: the official code's per-class quota and
    # uniform draw over the whole memory, or Avalanche 0.6.0's choices (docs/speed.md#parity).
    memory_fill: str = hparam("class_quota", choices=("class_quota", "uniform"))  # "uniform": any examples of the task
    ref_sampling: str = hparam("uniform", choices=("uniform", "task_balanced"))  # ref_batch_size // t from every past task


@register("agem")
class AGEM(RehearsalMethod):
    Hyperparameters = AGEMHyperparameters

    # On CUDA, this task's projected steps so far as a device tensor (no host sync per step).
    pending_violations = None

    def gradient_rows(self) -> int:
        return 2

    def flush_counters(self) -> None:
        if self.pending_violations is not None:
            self.violations[self.current_task.index] += int(self.pending_violations)
            self.pending_violations = None

    def end_task(self, task) -> None:
        self.flush_counters()
        self.memory.add_task(task, fill=self.hparams.memory_fill)

    def observe(self, batch: Batch):
        if len(self.memory) == 0:  # first task: plain SGD
            return super().observe(batch)
        if self.hparams.ref_sampling == "task_balanced":
            x_ref, y_ref, ids_ref = self.memory.sample_task_balanced(self.hparams.ref_batch_size)
        else:
            x_ref, y_ref, ids_ref = self.memory.sample(self.hparams.ref_batch_size)
        if self.written_gradients() is not None and not self.flat.values.is_cuda:
            return self._observe_factored(batch, x_ref, y_ref, ids_ref)
        # The reference pass runs in training mode, so batch-norm statistics see the memory too,
        # as in the official code (docs/decisions.md#reference-pass-bn).
        self.gradient_into(G_REF, x_ref, y_ref, ids_ref)
        loss = self.gradient_into(G, batch.x, batch.y, batch.task_ids)
        self._project_and_step()
        return loss

    def _observe_factored(self, batch: Batch, x_ref, y_ref, ids_ref):
        """The step with g_ref formed only when gᵀg_ref may be negative (the same floats as
        forming it every step; docs/decisions.md#factored-violation-test)."""
        reference = self.gradient_factors(x_ref, y_ref, ids_ref)
        current = self.gradient_factors(batch.x, batch.y, batch.task_ids)
        self.gradients.write(current, G)
        if not surely_non_negative(current, reference):
            self.gradients.write(reference, G_REF)
            self._project_and_step()
        else:
            self.flat.sgd_step(self.hparams.lr, G)
        return current.loss

    def _project_and_step(self) -> None:
        g, g_ref = self.flat.grads[G], self.flat.grads[G_REF]
        if g.is_cuda:  # count on the device; read once per task (flush_counters)
            projected = agem_project_on_device_(g, g_ref)
            self.pending_violations = projected.long() if self.pending_violations is None else self.pending_violations + projected
        elif agem_project_(g, g_ref):
            self.violations[self.current_task.index] += 1
        self.flat.sgd_step(self.hparams.lr, G)
