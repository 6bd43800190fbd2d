"""Gradient projections of A-GEM (paper Eq. 11) and GEM (Lopez-Paz & Ranzato 2017, Eq. 6–8).

Both work on flattened gradients: ``g`` is a vector of all trainable parameters' gradients
concatenated, ``G`` holds one such vector per past task. A-GEM's projection stays on the
tensors' device; GEM's dual quadratic program is tiny (t × t for t past tasks) and is solved on
the host with SciPy.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.optimize
import torch


class QPSolverError(RuntimeError):
    """GEM's dual quadratic program could not be solved."""


def agem_project(g: torch.Tensor, g_ref: torch.Tensor) -> torch.Tensor:
    """A-GEM's projection (Eq. 11): keep ``g`` if gᵀg_ref ≥ 0, else remove its g_ref component.

    g̃ = g − (gᵀg_ref / g_refᵀg_ref) g_ref is the closest vector to ``g`` (in L2) whose dot
    product with ``g_ref`` is non-negative. Returns a new tensor; inputs are not modified.
    """
    dot = torch.dot(g, g_ref)
    if dot >= 0:
        return g.clone()
    return g - (dot / torch.dot(g_ref, g_ref)) * g_ref


def agem_project_(g: torch.Tensor, g_ref: torch.Tensor) -> bool:
    """In-place form of :func:`agem_project` for the training loop; returns True if it projected.

    The single ``dot < 0`` test is the one host synchronisation per step: it decides whether the
    step counts as a constraint violation (paper Fig. 6), which we record anyway.
    """
    dot = torch.dot(g, g_ref)
    if dot >= 0:
        return False
    g.add_(g_ref, alpha=-(dot / torch.dot(g_ref, g_ref)).item())
    return True


def agem_project_on_device_(g: torch.Tensor, g_ref: torch.Tensor) -> torch.Tensor:
    """:func:`agem_project_` without a host synchronisation: returns whether it projected as a
    0-dim tensor on ``g``'s device, for a GPU step that never waits for the device.

    The coefficient is ``min(gᵀg_ref, 0) / g_refᵀg_ref``, zero when the constraint holds, so the
    same kernels run either way (g − 0·g_ref = g exactly). The result equals
    :func:`agem_project` to float rounding: the coefficient stays a float32 tensor instead of
    becoming a Python float (the CPU path keeps :func:`agem_project_`, bit-identical to before).
    """
    dot = torch.dot(g, g_ref)
    projected = dot < 0
    coefficient = torch.where(projected, dot / torch.dot(g_ref, g_ref), torch.zeros_like(dot))
    g.sub_(coefficient * g_ref)
    return projected


def solve_gem_dual(gram: np.ndarray, memory_dot_g: np.ndarray, margin: float, eps: float) -> np.ndarray:
    """Solve GEM's dual QP: min_v ½ vᵀ(P + εI)v + cᵀv subject to v ≥ margin.

    ``gram`` is P = G Gᵀ (t × t) and ``memory_dot_g`` is c = G g. This is exactly the problem
    GEM's ``project2cone2`` hands to quadprog. Substituting v = u + margin (u ≥ 0) and
    factorising P + εI = L Lᵀ turns it into a non-negative least-squares problem,
    min_u ½‖Lᵀu + d‖² with L d = (P + εI)·margin + c, which SciPy's NNLS solves exactly.
    """
    if not (np.all(np.isfinite(gram)) and np.all(np.isfinite(memory_dot_g))):
        raise QPSolverError("GEM's dual QP got non-finite inputs; the gradients contain NaN or inf")
    t = gram.shape[0]
    regularised = 0.5 * (gram + gram.T) + eps * np.eye(t)
    try:
        lower = scipy.linalg.cholesky(regularised, lower=True)
    except np.linalg.LinAlgError as exc:
        raise QPSolverError(
            f"GEM's dual matrix GGᵀ + {eps}·I is not positive definite ({exc}); "
            "increase gem 'eps' (the paper's code uses 1e-3)"
        ) from exc
    linear = regularised @ np.full(t, margin) + memory_dot_g
    d = scipy.linalg.solve_triangular(lower, linear, lower=True)
    try:
        u, _ = scipy.optimize.nnls(lower.T, -d)
    except RuntimeError as exc:  # NNLS raises RuntimeError when it exceeds its iteration limit
        raise QPSolverError(f"GEM's dual QP did not converge ({exc})") from exc
    v = u + margin
    if not np.all(np.isfinite(v)):
        raise QPSolverError("GEM's dual QP returned a non-finite solution; the gradients contain NaN or inf")
    return v


def gem_project(
    g: torch.Tensor, G: torch.Tensor, margin: float = 0.5, eps: float = 1e-3, memory_dot_g: torch.Tensor | None = None
) -> torch.Tensor:
    """GEM's projection (Eq. 6–8): g̃ = Gᵀv + g, v the solution of the dual QP.

    ``g``: [p], ``G``: [t, p] (one row per past task). Like GEM's ``project2cone2`` this always
    solves the QP; the GEM method calls it only when some gᵀg_k < 0. ``memory_dot_g``, if
    given, must be ``G @ g`` as already computed by the caller for that test (it is not
    recomputed: one [t, p] product saved, ≈ 0.24 ms at t = 16 on the MLP).
    """
    if G.ndim != 2 or G.shape[1] != g.shape[0]:
        raise ValueError(f"G must have shape [t, {g.shape[0]}], got {tuple(G.shape)}")
    if memory_dot_g is None:
        memory_dot_g = G @ g
    elif memory_dot_g.shape != (G.shape[0],):
        raise ValueError(f"memory_dot_g must have shape [{G.shape[0]}], got {tuple(memory_dot_g.shape)}")
    # The t × t products are computed on the gradients' device in their own precision; only
    # the tiny matrices travel to the host (a float64 copy of G would cost more than the QP).
    gram = (G @ G.T).double().cpu().numpy()
    memory_dot_g = memory_dot_g.double().cpu().numpy()
    v = solve_gem_dual(gram, memory_dot_g, margin, eps)
    return g + torch.as_tensor(v, dtype=g.dtype, device=g.device) @ G
