"""What a training run is told beyond its method and network: batches, epochs, evaluation schedule."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainSettings:
    batch_size: int = 10
    epochs: int = 1
    lca_batches: int = 10
    curve_every: int = 0
    evaluate_future_tasks: bool = False
    tasks: str = "eval"
    eval_batch_size: int = 2048
    progress_seconds: float = 30.0
    checkpoint: bool = True  # read by the workflow: save the run's state at every task boundary
