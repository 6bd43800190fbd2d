"""The small interface every continual-learning method implements, and the name registry.

What the training loop (:mod:`agem.training.loop`) uses of a method, and nothing else:

- :meth:`ContinualMethod.begin_task`, :meth:`~ContinualMethod.observe` (one step per batch) and
  :meth:`~ContinualMethod.end_task`, task after task (one joint phase when
  :attr:`~ContinualMethod.joint_training`);
- :meth:`~ContinualMethod.predict` for every evaluation, with :attr:`~ContinualMethod.model` in
  eval mode;
- :meth:`~ContinualMethod.memory_batches` after each task (accuracy on the episodic memory);
- :attr:`~ContinualMethod.violations`, :meth:`~ContinualMethod.state_bytes` and the model's
  buffers for the run file;
- :meth:`~ContinualMethod.checkpoint_state` at every task boundary, and
  :meth:`~ContinualMethod.restore_checkpoint_state` on a freshly built method when a run resumes
  (tensors and plain data only: a checkpoint holds no code).

A method is one file in this package: subclass :class:`ContinualMethod`, declare its
hyper-parameters as a dataclass, and decorate it with ``@register("name")``. Nothing else changes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from agem.data.streams import Task, TaskStream
from agem.methods.flat import FlatParameters
from agem.methods.hparam_checks import check_values, hparam
from agem.methods.memory import EpisodicMemory
from agem.methods.mlp_gradients import hand_written_gradients
from agem.methods.saved_state import CheckpointStateError, encode, restore

# Masked-out logits get a large negative value, as in the paper's multi-head setting: their
# softmax probability, and hence their gradient, is exactly zero.
MASKED_LOGIT = -1e10


def mask_logits(logits: torch.Tensor, output_masks: torch.Tensor | None, task_ids: torch.Tensor) -> torch.Tensor:
    """Keep each example's own task's outputs (``output_masks`` None: one shared head)."""
    if output_masks is None:
        return logits
    return logits.masked_fill(~output_masks[task_ids], MASKED_LOGIT)


@dataclass(frozen=True)
class Batch:
    x: torch.Tensor
    y: torch.Tensor
    task_ids: torch.Tensor  # stream task index of every example (selects its output mask)


@dataclass
class Hyperparameters:
    """Every method has at least a learning rate (plain SGD, paper §2).

    Declare a field's valid range once with :func:`~agem.methods.hparam_checks.hparam`; its type
    comes from the annotation. Both are checked on construction (and so by the config check).
    """

    lr: float = hparam(0.03, gt=0)

    def __post_init__(self):
        check_values(self)


class ContinualMethod:
    name: ClassVar[str] = ""
    Hyperparameters: ClassVar[type] = Hyperparameters
    # True for methods that see all tasks' data in one shuffled pass (MULTI-TASK) instead of
    # task after task; the loop then trains one joint phase and evaluates every task at its end.
    joint_training: ClassVar[bool] = False
    # Hand-written gradients of the MLP (agem.methods.mlp_gradients), None where autograd runs:
    # other networks, or a method that redefines ``loss``. Read it through :meth:`written_gradients`.
    gradients = None

    def __init__(self, model: nn.Module, stream: TaskStream, hparams: Hyperparameters, memory_per_task: int, generator: torch.Generator):
        self.model = model
        self.stream = stream
        self.hparams = hparams
        self.memory_per_task = memory_per_task
        self.generator = generator
        self.flat = FlatParameters(model, grad_rows=self.gradient_rows())
        if type(self).loss is ContinualMethod.loss:
            self.gradients = hand_written_gradients(model, self.flat)
        self.violations: dict[int, int] = {}  # stream task index -> steps that violated a constraint
        self.current_task: Task | None = None

    # --- checkpointing: the state as tensors and plain data (agem.methods.saved_state) -------
    # Attributes a freshly built method already has from the run's configuration: never saved.
    # ``gradients`` is derived from the model and the flat buffers (and checks that it still is).
    rebuilt_attributes: ClassVar[tuple[str, ...]] = ("stream", "hparams", "gradients")

    def checkpoint_state(self) -> dict:
        """Every attribute but :attr:`rebuilt_attributes`, as tensors and plain data; raises
        :class:`~agem.methods.saved_state.CheckpointStateError` naming an attribute it cannot save."""
        return {name: encode(value, f"{type(self).__name__}.{name}") for name, value in vars(self).items()
                if name not in self.rebuilt_attributes and not isinstance(value, Hyperparameters)}

    def restore_checkpoint_state(self, saved: dict) -> None:
        """Load :meth:`checkpoint_state` of the same run into this method, freshly built from the
        run's configuration as training starts it."""
        if not isinstance(saved, dict):
            raise CheckpointStateError(f"the saved state of {type(self).__name__} is a {type(saved).__name__}, not a dict of attributes")
        for name, value in saved.items():
            if not isinstance(name, str) or not name.isidentifier() or name.startswith("__") or name in self.rebuilt_attributes:
                raise CheckpointStateError(f"{type(self).__name__}: {name!r} is not an attribute a checkpoint restores")
            setattr(self, name, restore(getattr(self, name, None), value, f"{type(self).__name__}.{name}", self.stream))
        self.flat.bind(0)  # every p.grad a view into the restored gradient matrix

    def gradient_rows(self) -> int:
        """How many flat gradient vectors the method keeps side by side (1: just g)."""
        return 1

    # --- hooks called by the training loop -------------------------------------------------
    def begin_task(self, task: Task) -> None:
        self.current_task = task
        self.violations.setdefault(task.index, 0)

    def observe(self, batch: Batch) -> torch.Tensor:
        """One SGD step on ``batch``; returns the (detached) training loss."""
        loss = self.gradient_into(0, batch.x, batch.y, batch.task_ids)
        self.flat.sgd_step(self.hparams.lr)
        return loss

    def end_task(self, task: Task) -> None:
        pass

    def flush_counters(self) -> None:
        """Bring counters kept on the device into :attr:`violations` (the loop calls it before
        reading them; A-GEM on CUDA counts there to avoid a host sync per step)."""

    def predict(self, x: torch.Tensor, task_ids: torch.Tensor) -> torch.Tensor:
        """Class scores for evaluation, restricted to each example's task (argmax = prediction).

        Called under ``torch.no_grad`` with the model in eval mode. Methods with their own
        classifier (iCaRL's nearest mean of exemplars) or routing (PROG-NN's columns) override it.
        """
        return mask_logits(self.model(x), self.stream.output_masks, task_ids)

    def memory_batches(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(x, y, task_ids) of each stored task's episodic memory, for the accuracy on the memory
        (paper Table 2); empty for methods without one."""
        return []

    def state_bytes(self) -> int:
        """Bytes of everything the method keeps beyond the model (gradients, memory, …)."""
        return self.flat.nbytes

    # --- shared building blocks --------------------------------------------------------------
    def gradient_into(self, row: int, x: torch.Tensor, y: torch.Tensor, task_ids: torch.Tensor) -> torch.Tensor:
        """Overwrite flat gradient row ``row`` with ∂loss/∂θ on (x, y); return the detached loss.

        The same floats either way: written out for the MLP, by autograd otherwise.
        """
        gradients = self.written_gradients()
        if gradients is not None:
            factors = self.gradient_factors(x, y, task_ids)
            gradients.write(factors, row)
            return factors.loss
        loss = self.loss(self.model(x), y, task_ids)
        self.flat.backward_into(row, loss)
        return loss.detach()

    def written_gradients(self):
        """:attr:`gradients` if it still computes this method's gradients, else None: a method that
        replaces its model or flat buffers (PROG-NN grows columns) falls back to autograd."""
        gradients = self.gradients
        if gradients is None or gradients.model is not self.model or gradients.flat is not self.flat:
            return None
        return gradients

    def gradient_factors(self, x: torch.Tensor, y: torch.Tensor, task_ids: torch.Tensor):
        """The loss's gradient on (x, y) as :class:`~agem.methods.mlp_gradients.Factors`
        (only where :meth:`written_gradients` is not None)."""
        masks = self.stream.output_masks
        return self.gradients.factors(x, y, None if masks is None else ~masks[task_ids])

    def loss(self, logits: torch.Tensor, y: torch.Tensor, task_ids: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(mask_logits(logits, self.stream.output_masks, task_ids), y)


class RehearsalMethod(ContinualMethod):
    """A method with an episodic memory, filled at the end of every task (A-GEM, GEM, …)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.memory = EpisodicMemory(self.memory_per_task, self.generator)

    def end_task(self, task: Task) -> None:
        self.memory.add_task(task)

    def memory_batches(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        return self.memory.per_task()

    def state_bytes(self) -> int:
        return super().state_bytes() + self.memory.nbytes


METHODS: dict[str, type[ContinualMethod]] = {}


def register(name: str):
    def decorate(cls: type[ContinualMethod]) -> type[ContinualMethod]:
        if name in METHODS:
            raise ValueError(f"method name {name!r} is registered twice ({METHODS[name].__module__} and {cls.__module__})")
        cls.name = name
        METHODS[name] = cls
        return cls

    return decorate


def make_hyperparameters(method: str, values: dict) -> Hyperparameters:
    """Validate ``values`` against the method's declared hyper-parameters."""
    cls = METHODS[method].Hyperparameters
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"method {method!r} has no hyper-parameter(s) {unknown}; it takes {sorted(known)}")
    return cls(**values)  # __post_init__ checks every value's type and range
