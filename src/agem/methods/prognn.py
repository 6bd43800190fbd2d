"""PROG-NN: progressive networks, one column per task (docs/decisions.md#prognn; agem.networks.progressive).

The configured network is the first column. Each later task gets a fresh column with lateral
adapters from all earlier columns, which are frozen from then on (no gradient, no update,
batch norm in evaluation mode). Training is plain SGD on the newest column and its adapters:
the flat parameter buffer (agem.methods.flat) is rebuilt at every task start to hold exactly those.
Evaluation routes every example to its own task's column, with that task's output mask, so an
earlier task's accuracy never changes (forgetting exactly 0, paper Table 4). A task that has no
column yet (``evaluate_future_tasks``) is predicted by the newest column.

New columns and their adapters draw their weights from a seed taken from the method's
generator, so a run is reproducible, also when resumed from a checkpoint, whatever else used
the global torch RNG.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from agem.data.streams import Task
from agem.methods.base import ContinualMethod, Hyperparameters, mask_logits, register
from agem.methods.flat import FlatParameters
from agem.methods.saved_state import CheckpointStateError
from agem.networks.progressive import ProgressiveNetwork


@dataclass
class ProgNNHyperparameters(Hyperparameters):
    lr: float = 0.1  # paper App. G, MNIST


def _nbytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


@register("prognn")
class ProgressiveNeuralNetwork(ContinualMethod):
    Hyperparameters = ProgNNHyperparameters

    def __init__(self, model, *args, **kwargs):
        super().__init__(model, *args, **kwargs)
        self.model = ProgressiveNetwork(model)
        self.column_of_task: dict[int, int] = {}  # stream task index -> column

    def begin_task(self, task: Task) -> None:
        super().begin_task(task)
        if task.index in self.column_of_task:
            return
        if self.column_of_task:  # the newest column belongs to an earlier task: grow a new one
            self._grow_column(int(torch.randint(2**62, (1,), generator=self.generator)))
        self.column_of_task[task.index] = self.model.n_columns - 1

    def _grow_column(self, seed: int) -> None:
        """Freeze the columns so far and train a new one, its weights drawn from ``seed``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model.add_column(self.model.new_column())
        for p in self.model.parameters():
            if not p.requires_grad:
                p.grad = None  # frees the previous column's gradient buffer
        self.flat = FlatParameters(self.model, grad_rows=self.gradient_rows())

    # --- checkpoints: the columns are grown first, then every weight is loaded into them --------
    def checkpoint_state(self) -> dict:
        return {**super().checkpoint_state(), "n_columns": self.model.n_columns}

    def restore_checkpoint_state(self, saved: dict) -> None:
        saved = dict(saved)
        n_columns = saved.pop("n_columns", None)
        if type(n_columns) is not int or not 1 <= n_columns <= len(self.stream.tasks):
            raise CheckpointStateError(f"PROG-NN's saved column count {n_columns!r} is not between 1 and the stream's {len(self.stream.tasks)} tasks")
        while self.model.n_columns < n_columns:
            self._grow_column(0)  # weights overwritten below; the method's generator is restored too
        super().restore_checkpoint_state(saved)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, task_ids: torch.Tensor) -> torch.Tensor:
        newest = self.model.n_columns - 1
        columns = torch.tensor([self.column_of_task.get(int(t), newest) for t in task_ids.tolist()], device=x.device)
        scores = torch.empty(len(x), self.stream.n_outputs, device=x.device)
        for column in columns.unique().tolist():
            rows = columns == column
            scores[rows] = self.model(x[rows], column=column)
        return mask_logits(scores, self.stream.output_masks, task_ids)

    def state_bytes(self) -> int:
        """Every column's and adapter's parameters and the gradient buffer (the loop adds the
        model's batch-norm statistics, every column's)."""
        return _nbytes(self.model.parameters()) + _nbytes([self.flat.grads])
