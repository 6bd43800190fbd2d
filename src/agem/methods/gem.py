"""GEM (Lopez-Paz & Ranzato 2017; A-GEM paper Eq. 6–8), the method A-GEM makes cheaper.

Every step computes one gradient per past task on that task's whole episodic memory. If the
current gradient g conflicts with any of them (gᵀg_k < 0), it is replaced by the solution of
GEM's dual quadratic program (``project2cone2``: margin, ε·I), solved with SciPy in
agem.methods.projection. Past-task gradients are written straight into rows of one matrix. For
the MLP on the CPU they are formed only when some gᵀg_k may be negative, decided from the
gradients' factors (agem.methods.mlp_gradients): the same steps, with less arithmetic in the
steps that do not project.

With ``batched: true`` the t past-task gradients come from one ``torch.func`` pass (``vmap`` over
tasks of ``grad``) instead of t forward/backward passes: the same gradients up to float rounding
(≈ 2e-7 relative), not bit for bit. On the CPU this does not pay: the step is bound by its
multiply-adds (t × 250 examples forward and backward, the same count either way, ≈ 70 GFLOP/s
on one core at t = 16), and vmap's bookkeeping makes the step 0.8–1.0× as fast as the loop
(docs/speed.md#gem). It is there for GPUs, where t small passes cost t kernel-launch
latencies (scripts/gpu_check.py times both). Off by default: results stay bit-identical.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from agem.methods.base import Batch, Hyperparameters, RehearsalMethod, register
from agem.methods.hparam_checks import hparam
from agem.methods.mlp_gradients import surely_non_negative
from agem.methods.projection import gem_project

G = 0  # row of the current gradient; rows 1..t hold the t past tasks' gradients


@dataclass
class GEMHyperparameters(Hyperparameters):
    lr: float = 0.1
    margin: float = hparam(0.5, ge=0)  # GEM's "memory_strength"
    eps: float = hparam(1e-3, ge=0)  # ridge added to the dual matrix; without it quadprog fails (GEM issues #2, #4)
    batched: bool = False  # past-task gradients in one vmap'd pass (see the module docstring)


@register("gem")
class GEM(RehearsalMethod):
    Hyperparameters = GEMHyperparameters

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.hparams.batched and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.model.modules()):
            raise ValueError(f"{self.name} 'batched: true' needs a network without batch norm (its statistics would mix the tasks); "
                             "set 'batched: false' for this network")

    def constraint_memories(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """The (x, y, task_ids) memories whose gradients constrain this step: every past task's."""
        return self.memory.per_task()

    def observe(self, batch: Batch):
        past = self.constraint_memories()
        self.flat.ensure_grad_rows(1 + len(past))
        if past and self.written_gradients() is not None and not self.hparams.batched and not self.flat.values.is_cuda:
            loss, may_conflict = self._gradients_factored(batch, past)
        else:
            self._memory_gradients(past)
            loss, may_conflict = self.gradient_into(G, batch.x, batch.y, batch.task_ids), bool(past)
        if may_conflict:
            self._project_if_violated(len(past))
        self.flat.sgd_step(self.hparams.lr, G)
        return loss

    def _gradients_factored(self, batch: Batch, past) -> tuple[torch.Tensor, bool]:
        """Row G, and rows 1..t only when gᵀg_k may be negative for some k: the same floats and
        steps as forming them every step (docs/decisions.md#factored-violation-test)."""
        memories = [self.gradient_factors(x, y, ids) for x, y, ids in past]
        current = self.gradient_factors(batch.x, batch.y, batch.task_ids)
        self.gradients.write(current, G)
        if all(surely_non_negative(current, memory) for memory in memories):
            return current.loss, False
        for row, memory in enumerate(memories, start=1):
            self.gradients.write(memory, row)
        return current.loss, True

    def _memory_gradients(self, past) -> None:
        """Rows 1..t: one gradient per past task's memory."""
        stacked = self._stacked(past) if self.hparams.batched and len(past) > 1 else None
        if stacked is not None:
            self._memory_gradients_batched(*stacked)
        else:  # one pass per task (also when memories differ in size: a class with too few examples)
            for row, (x, y, ids) in enumerate(past, start=1):
                self.gradient_into(row, x, y, ids)

    def _project_if_violated(self, t: int) -> None:
        g, memory_grads = self.flat.grads[G], self.flat.grads[1 : 1 + t]
        memory_dot_g = memory_grads @ g
        if bool((memory_dot_g < 0).any()):
            self.violations[self.current_task.index] += 1
            g.copy_(self.project(g, memory_grads, memory_dot_g))

    def project(self, g: torch.Tensor, memory_grads: torch.Tensor, memory_dot_g: torch.Tensor) -> torch.Tensor:
        """The projected gradient when g conflicts with some row of ``memory_grads``."""
        return gem_project(g, memory_grads, self.hparams.margin, self.hparams.eps, memory_dot_g)

    def _stacked(self, past: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
        """The constraint memories as [t, size, ...] tensors: views of the whole memory when they
        are all of it (GEM), stacked copies otherwise (S-GEM's one task); None if sizes differ."""
        if len(past) == self.memory.n_tasks:
            return self.memory.stacked()
        if len({len(y) for _, y, _ in past}) != 1:
            return None
        return tuple(torch.stack(parts) for parts in zip(*past))

    def _memory_gradients_batched(self, xs: torch.Tensor, ys: torch.Tensor, ids: torch.Tensor) -> None:
        """Rows 1..t of the gradient matrix from one vmap'd ``grad`` over the stacked memories."""
        params = {name: p.detach() for name, p in self.model.named_parameters() if p.requires_grad}
        buffers = dict(self.model.named_buffers())

        def task_loss(params, x, y, task_ids):
            return self.loss(functional_call(self.model, (params, buffers), (x,)), y, task_ids)

        per_task = vmap(grad(task_loss), in_dims=(None, 0, 0, 0))(params, xs, ys, ids)
        t = len(xs)
        rows = self.flat.grads[1 : 1 + t]
        for gradient, (offset, n) in zip(per_task.values(), self.flat.slices):  # dicts keep the parameters' order
            rows[:, offset : offset + n].copy_(gradient.reshape(t, n))
