"""Parameters and gradients kept in flat buffers, so methods work on whole vectors without copies.

A-GEM and GEM reason about "the gradient" as one vector over all trainable parameters (paper
Eq. 11, all parameters flattened together). Rather than concatenating ``p.grad`` tensors every
step, every parameter's storage is made a view into one flat vector, and every ``p.grad`` a view
into a row of a gradient matrix. Autograd accumulates into an existing ``.grad`` in place, so a
backward pass writes straight into the chosen row; choosing another row (:meth:`bind`) lets a
method collect several gradients (g and g_ref; one per past task for GEM) side by side. Heads
that a loss does not reach simply keep zeros, so g and g_ref are zero-filled consistently.
"""

from __future__ import annotations

import torch
from torch import nn


class FlatParameters:
    """All trainable parameters of ``model`` as views into ``self.values`` (length ``size``)."""

    def __init__(self, model: nn.Module, grad_rows: int = 1):
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError("the model has no trainable parameters")
        first = self.params[0]
        self.size = sum(p.numel() for p in self.params)
        self.values = torch.empty(self.size, dtype=first.dtype, device=first.device)
        self._slices = []
        offset = 0
        for p in self.params:
            n = p.numel()
            self.values[offset : offset + n].copy_(p.detach().flatten())
            p.data = self.values[offset : offset + n].view_as(p)
            self._slices.append((offset, n))
            offset += n
        self.grads = torch.zeros(0, self.size, dtype=first.dtype, device=first.device)
        self.ensure_grad_rows(grad_rows)

    def ensure_grad_rows(self, rows: int) -> None:
        """Grow the gradient matrix to at least ``rows`` rows (their contents start at zero)."""
        if rows > self.grads.shape[0]:
            grown = torch.zeros(rows, self.size, dtype=self.grads.dtype, device=self.grads.device)
            grown[: self.grads.shape[0]] = self.grads
            self.grads = grown
            self.bind(0)

    def bind(self, row: int) -> torch.Tensor:
        """Point every ``p.grad`` at row ``row`` of the gradient matrix and return that row.

        Re-pointing costs ~10 µs (3 % of a VAN step); it is skipped when every ``p.grad`` is
        still the view this method set for that row (VAN binds row 0 at every step).
        """
        bound = self.__dict__.get("_bound")
        if bound is not None and bound[0] == row and bound[1] is self.grads and all(p.grad is v for p, v in zip(self.params, bound[3])):
            return bound[2]
        flat = self.grads[row]
        views = [flat[offset : offset + n].view_as(p) for p, (offset, n) in zip(self.params, self._slices)]
        for p, view in zip(self.params, views):
            p.grad = view
        self._bound = (row, self.grads, flat, views)
        return flat

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_bound", None)  # rebuilt by the first bind after loading
        return state

    def backward_into(self, row: int, loss: torch.Tensor) -> torch.Tensor:
        """Overwrite row ``row`` with ∂loss/∂θ and return it."""
        flat = self.bind(row)
        flat.zero_()
        loss.backward()
        return flat

    @property
    def slices(self) -> list[tuple[int, int]]:
        """(offset, size) of every trainable parameter in the flat vectors, in ``params`` order."""
        return self._slices

    def sgd_step(self, lr: float, row: int = 0) -> None:
        """Plain SGD (constant learning rate, no momentum, no weight decay; paper §2)."""
        self.values.add_(self.grads[row], alpha=-lr)

    @property
    def nbytes(self) -> int:
        return self.values.numel() * self.values.element_size() + self.grads.numel() * self.grads.element_size()
