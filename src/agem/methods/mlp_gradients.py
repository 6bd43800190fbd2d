"""The MLP's cross-entropy gradients written out: autograd's own kernels, without autograd.

At Permuted MNIST's batch of 10, autograd's bookkeeping (recording the graph, allocating and
accumulating every ``.grad``) is about a quarter of a step: written out, a VAN step costs about
0.24 ms instead of 0.33 ms (docs/speed.md#hand-written-gradients). Each batch's gradient is
first kept as *factors*: for every linear layer l, what it saw, A_l (batch × fan_in), and the
loss's derivative with respect to its output, D_l (batch × fan_out), so that ∂W_l = D_lᵀ A_l and
∂b_l = Σ_rows D_l. Two things follow.

- :meth:`MLPGradients.write` turns factors into a flat gradient row with the very calls autograd
  makes for ``F.cross_entropy(mask_logits(model(x)), y).backward()`` (``addmm`` forward,
  ``_log_softmax``/``nll_loss`` and their backward functions, ``masked_fill`` for masked heads,
  ``mm`` for ∂W and the deltas, ``sum`` for ∂b, ``threshold_backward`` for ReLU), so the row is
  bit for bit the one autograd writes (``tests/test_mlp_gradients.py`` checks ``torch.equal``).
- :func:`inner_product` computes ⟨∂θ_a, ∂θ_b⟩ = Σ_l Σ_ij (D_a D_bᵀ)_ij (A_a A_bᵀ)_ij + the
  biases' terms without forming ∂θ_b. Against A-GEM's 256 reference examples that is ~5 MFLOP
  instead of the ~137 MFLOP of ∂W: A-GEM and GEM form the memories' gradients only when the
  current one may conflict with them (docs/decisions.md#factored-violation-test).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from agem.networks.models import MLP

MEAN_REDUCTION, IGNORE_INDEX = 1, -100  # F.cross_entropy's defaults, as ATen's enum and value

# A factored inner product is trusted to decide gᵀg_ref ≥ 0 only when it is further from zero
# than this fraction of Σ|terms|' upper bound; float32 rounding in either form of the product
# is orders of magnitude smaller, so the decision is the one the flat product would take.
DECISION_MARGIN = 1e-4


@dataclass
class Factors:
    """∂loss/∂θ of one batch, per linear layer: ∂W = deltas[l]ᵀ inputs[l], ∂b = Σ_rows deltas[l]."""

    inputs: list[torch.Tensor]
    deltas: list[torch.Tensor]
    loss: torch.Tensor  # the batch's mean cross-entropy, detached


class MLPGradients:
    """Hand-written gradients of :class:`agem.networks.models.MLP`'s masked cross-entropy."""

    def __init__(self, model: nn.Module, linears: list[nn.Linear], flat):
        self.model = model
        self.linears = linears
        self.flat = flat
        first = linears[0].weight
        self._one = torch.ones((), dtype=first.dtype, device=first.device)  # d loss / d loss
        self._rows: dict[int, tuple] = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_rows"] = {}  # views into the gradient matrix are rebuilt after loading
        return state

    @torch.no_grad()
    def factors(self, x: torch.Tensor, y: torch.Tensor, blocked: torch.Tensor | None) -> Factors:
        """Forward pass and backward deltas of the mean cross-entropy on (x, y).

        ``blocked``: [batch, outputs] True where an output is masked out (multi-head), or None.
        """
        inputs, h = [], x.flatten(1)
        last = len(self.linears) - 1
        for i, layer in enumerate(self.linears):
            inputs.append(h)
            h = torch.addmm(layer.bias, h, layer.weight.t())
            if i < last:
                h = torch.relu(h)
        if blocked is not None:
            h = h.masked_fill(blocked, -1e10)  # agem.methods.base.MASKED_LOGIT
        log_p = torch._log_softmax(h, 1, False)
        loss, total_weight = torch.ops.aten.nll_loss_forward(log_p, y, None, MEAN_REDUCTION, IGNORE_INDEX)
        d = torch.ops.aten.nll_loss_backward(self._one, log_p, y, None, MEAN_REDUCTION, IGNORE_INDEX, total_weight)
        d = torch._log_softmax_backward_data(d, log_p, 1, log_p.dtype)
        if blocked is not None:
            d = d.masked_fill(blocked, 0)
        deltas = [d]
        for i in range(last, 0, -1):
            d = torch.ops.aten.threshold_backward(torch.mm(d, self.linears[i].weight), inputs[i], 0)
            deltas.append(d)
        deltas.reverse()
        return Factors(inputs, deltas, loss)

    @torch.no_grad()
    def write(self, factors: Factors, row: int) -> torch.Tensor:
        """Overwrite row ``row`` of the flat gradient matrix with ∂loss/∂θ and return it."""
        flat_row, views = self._row(row)
        # With several threads MKL's products depend on where the output lies (gradient rows
        # after the first are not 64-byte aligned), so they are computed apart and copied in, as
        # autograd does; one thread on the CPU writes them in place, with the same floats. On a
        # GPU, where this was not measured, they are copied in as autograd does.
        in_place = torch.get_num_threads() == 1 and flat_row.device.type == "cpu"
        for (weight_grad, bias_grad), a, d in zip(views, factors.inputs, factors.deltas):
            if in_place:
                torch.mm(d.t(), a, out=weight_grad)
                torch.sum(d, 0, out=bias_grad)
            else:
                weight_grad.copy_(torch.mm(d.t(), a))
                bias_grad.copy_(torch.sum(d, 0))
        return flat_row

    def _row(self, row: int) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """The flat row and its (∂W, ∂b) views per layer, cached until the matrix is regrown."""
        cached = self._rows.get(row)
        if cached is None or cached[0] is not self.flat.grads:
            flat_row = self.flat.grads[row]
            slices = iter(self.flat.slices)
            views = []
            for layer in self.linears:
                (w_at, w_n), (b_at, b_n) = next(slices), next(slices)
                views.append((flat_row[w_at : w_at + w_n].view_as(layer.weight), flat_row[b_at : b_at + b_n]))
            cached = self._rows[row] = (self.flat.grads, flat_row, views)
        return cached[1], cached[2]


def hand_written_gradients(model: nn.Module, flat) -> MLPGradients | None:
    """:class:`MLPGradients` for a plain :class:`~agem.networks.models.MLP` whose trainable
    parameters are exactly its layers' weights and biases in order, else None (autograd)."""
    if type(model) is not MLP or any(m._forward_hooks or m._forward_pre_hooks for m in model.modules()):
        return None
    modules = list(model.layers)
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    expected = [nn.Linear, nn.ReLU] * (len(linears) - 1) + [nn.Linear]
    if [type(m) for m in modules] != expected or any(layer.bias is None for layer in linears):
        return None
    params = [p for layer in linears for p in (layer.weight, layer.bias)]
    if len(params) != len(flat.params) or any(p is not q for p, q in zip(params, flat.params)):
        return None
    return MLPGradients(model, linears, flat)


@torch.no_grad()
def inner_product(a: Factors, b: Factors) -> tuple[float, float]:
    """⟨∂θ_a, ∂θ_b⟩ from the factors, and an upper bound on Σ|terms| of that product.

    Σ_ij ∂W_a[i,j] ∂W_b[i,j] = Σ_rs (D_a D_bᵀ)_rs (A_a A_bᵀ)_rs for every layer, plus the biases'
    (Σ_r D_a)·(Σ_s D_b). The bound Σ_l ‖D_a‖‖A_a‖‖D_b‖‖A_b‖ + ‖Σ D_a‖‖Σ D_b‖ (Frobenius norms)
    dominates, by Cauchy–Schwarz, the absolute terms of this sum, of its partial products and of
    the flat dot product, so rounding in either form is a tiny fraction of it
    (:data:`DECISION_MARGIN`). One host synchronisation for both numbers.
    """
    terms, a_sums, b_sums = [], [], []
    for a_in, a_d, b_in, b_d in zip(a.inputs, a.deltas, b.inputs, b.deltas):
        terms.append(torch.mm(a_d, b_d.t()).mul_(torch.mm(a_in, b_in.t())).sum())
        a_sums.append(a_d.sum(0))
        b_sums.append(b_d.sum(0))
    terms += [torch.dot(a_sum, b_sum) for a_sum, b_sum in zip(a_sums, b_sums)]
    n = len(a.inputs)
    a_norms = torch.stack(torch._foreach_norm([*a.inputs, *a.deltas, *a_sums]))
    b_norms = torch.stack(torch._foreach_norm([*b.inputs, *b.deltas, *b_sums]))
    layers = a_norms[:n] * a_norms[n : 2 * n] * b_norms[:n] * b_norms[n : 2 * n]
    scale = layers.sum() + torch.dot(a_norms[2 * n :], b_norms[2 * n :])
    value, scale = torch.stack([torch.stack(terms).sum(), scale]).tolist()
    return value, scale


def surely_non_negative(a: Factors, b: Factors) -> bool:
    """True when ⟨∂θ_a, ∂θ_b⟩ ≥ 0 beyond any rounding doubt (no constraint is violated)."""
    value, scale = inner_product(a, b)
    return value > DECISION_MARGIN * scale
