"""Reference computations written independently of the library: restricted loss, gradients, GEM's QP (quadprog)."""

from __future__ import annotations

import numpy as np
import quadprog
import torch

from agem.data.streams import TaskStream


# --- independent reference computations --------------------------------------------------------
def restricted_loss(logits: torch.Tensor, y: torch.Tensor, classes_of_rows: list[torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy where each example's softmax runs over its own task's classes only."""
    losses = []
    for i, classes in enumerate(classes_of_rows):
        target = int((classes == y[i]).nonzero())
        losses.append(-torch.log_softmax(logits[i, classes], 0)[target])
    return torch.stack(losses).mean()


def task_classes(stream: TaskStream, task_ids: torch.Tensor) -> list[torch.Tensor]:
    return [stream.tasks[int(k)].classes for k in task_ids]


def reference_gradient(model: torch.nn.Module, stream: TaskStream, x, y, task_ids) -> torch.Tensor:
    """∂(restricted loss)/∂θ, flattened in ``model.parameters()`` order, by plain autograd."""
    params = list(model.parameters())
    loss = restricted_loss(model(x), y, task_classes(stream, task_ids))
    return torch.cat([p.flatten() for p in torch.autograd.grad(loss, params)])


def project2cone2(G: np.ndarray, g: np.ndarray, margin: float, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """GEM's original ``project2cone2`` (Lopez-Paz & Ranzato), solved with quadprog in float64.

    Returns the dual solution v and the projected gradient Gᵀv + g.
    """
    G, g = np.asarray(G, dtype=np.float64), np.asarray(g, dtype=np.float64)
    t = G.shape[0]
    P = G @ G.T
    P = 0.5 * (P + P.T) + np.eye(t) * eps
    q = -(G @ g)
    v = quadprog.solve_qp(P, q, np.eye(t), np.zeros(t) + margin)[0]
    return v, v @ G + g
