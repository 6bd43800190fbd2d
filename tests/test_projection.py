"""A-GEM's closed-form projection and GEM's dual QP, checked against independent computations:
brute-force feasible points, SciPy's general-purpose optimiser, quadprog on GEM's own problem
(``project2cone2``), and the KKT conditions."""

import numpy as np
import pytest
import scipy.optimize
import torch

from agem.methods.projection import (
    QPSolverError,
    agem_project,
    agem_project_,
    gem_project,
    solve_gem_dual,
)
from helpers.references import project2cone2

DTYPES = [torch.float64, torch.float32]


def random_pairs(n: int = 300, seed: int = 0):
    """(g, g_ref) as float64 NumPy arrays of random dimension and wildly different scales."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        dim = int(rng.integers(1, 60))
        yield rng.standard_normal(dim) * 10 ** rng.uniform(-2, 2), rng.standard_normal(dim) * 10 ** rng.uniform(-3, 3)


def split_pairs(dtype):
    """Pairs as tensors of ``dtype``, split by the sign of gᵀg_ref (computed in float64);
    pairs whose dot product is too close to zero to have a reliable sign in ``dtype`` are left out."""
    keep, conflict = [], []
    tol = 1e-4 if dtype == torch.float32 else 1e-12
    for g, g_ref in random_pairs():
        g_t, r_t = torch.tensor(g, dtype=dtype), torch.tensor(g_ref, dtype=dtype)
        dot = float(g_t.double() @ r_t.double())
        scale = float(g_t.double().norm() * r_t.double().norm())
        if abs(dot) <= tol * scale:
            continue
        (keep if dot > 0 else conflict).append((g_t, r_t))
    assert len(keep) > 100 and len(conflict) > 100  # both branches are really exercised
    return keep, conflict


@pytest.mark.parametrize("dtype", DTYPES)
def test_agem_keeps_non_conflicting_gradient_exactly(dtype):
    keep, _ = split_pairs(dtype)
    for g, g_ref in keep:
        out = agem_project(g, g_ref)
        assert torch.equal(out, g)
        assert out.data_ptr() != g.data_ptr()  # a new tensor, not the input


@pytest.mark.parametrize("dtype", DTYPES)
def test_agem_boundary_cases_are_kept(dtype):
    g = torch.tensor([1.0, 2.0, 0.0], dtype=dtype)
    orthogonal = torch.tensor([2.0, -1.0, 5.0], dtype=dtype)  # gᵀg_ref = 0 exactly: no violation
    assert torch.equal(agem_project(g, orthogonal), g)
    zero = torch.zeros(3, dtype=dtype)  # an empty reference gradient never projects (no 0/0)
    assert torch.equal(agem_project(g, zero), g)
    assert agem_project_(g.clone(), zero) is False


@pytest.mark.parametrize("dtype", DTYPES)
def test_agem_projection_is_the_kkt_point(dtype):
    """g̃ᵀg_ref ≈ 0 and g̃ = g + λ g_ref with λ ≥ 0: stationarity of the Lagrangian
    ½‖z − g‖² − λ zᵀg_ref of min ‖z − g‖² s.t. zᵀg_ref ≥ 0 (the step moves towards g_ref)."""
    rtol = 1e-5 if dtype == torch.float32 else 1e-12
    _, conflict = split_pairs(dtype)
    for g, g_ref in conflict:
        out = agem_project(g, g_ref).double()
        g64, r64 = g.double(), g_ref.double()
        assert abs(float(out @ r64)) <= rtol * float(g64.norm() * r64.norm()) * 10
        step = out - g64
        # least-squares coefficient of the step along g_ref, and what is left over
        lam = float(step @ r64) / float(r64 @ r64)
        assert lam > 0
        assert float((step - lam * r64).norm()) <= rtol * float(g64.norm()) * 10


@pytest.mark.parametrize("dtype", DTYPES)
def test_agem_projection_is_the_closest_feasible_point_brute_force(dtype):
    """No random feasible point near g̃ (zᵀg_ref ≥ 0) is closer to g than g̃ is."""
    rng = np.random.default_rng(1)
    slack = 1e-5 if dtype == torch.float32 else 1e-10
    _, conflict = split_pairs(dtype)
    checked = 0
    for g, g_ref in conflict[:60]:
        out = agem_project(g, g_ref).double().numpy()
        g64, r64 = g.double().numpy(), g_ref.double().numpy()
        best = np.linalg.norm(out - g64)
        radius = max(best, 1e-12)
        for scale in (1e-3, 1e-1, 1.0):
            z = out + scale * radius * rng.standard_normal((200, len(out)))
            feasible = z[z @ r64 >= 0]
            checked += len(feasible)
            assert np.all(np.linalg.norm(feasible - g64, axis=1) >= best * (1 - slack))
    assert checked > 5000


def test_agem_projection_matches_scipy_minimize():
    """SciPy's SLSQP on min ‖z − g‖² s.t. zᵀg_ref ≥ 0 finds the same point as the closed form."""
    rng = np.random.default_rng(2)
    solved = 0
    while solved < 25:
        dim = int(rng.integers(2, 15))
        g, g_ref = rng.standard_normal(dim), rng.standard_normal(dim)
        if g @ g_ref >= 0:
            continue
        result = scipy.optimize.minimize(
            lambda z, g=g: np.sum((z - g) ** 2), x0=g + 3 * g_ref * abs(g @ g_ref) / (g_ref @ g_ref),
            jac=lambda z, g=g: 2 * (z - g), method="SLSQP",
            constraints=[{"type": "ineq", "fun": lambda z, c=g_ref: z @ c, "jac": lambda z, c=g_ref: c}],
            options={"ftol": 1e-14, "maxiter": 500},
        )
        assert result.success
        out = agem_project(torch.tensor(g), torch.tensor(g_ref)).numpy()
        np.testing.assert_allclose(out, result.x, atol=1e-6 * np.linalg.norm(g))
        solved += 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_agem_in_place_agrees_and_inputs_are_untouched(dtype):
    keep, conflict = split_pairs(dtype)
    for pairs, expect_projected in ((keep, False), (conflict, True)):
        for g, g_ref in pairs:
            g_before, ref_before = g.clone(), g_ref.clone()
            expected = agem_project(g, g_ref)
            assert torch.equal(g, g_before) and torch.equal(g_ref, ref_before)
            in_place = g.clone()
            assert agem_project_(in_place, g_ref) is expect_projected
            assert torch.equal(g_ref, ref_before)
            rtol = 1e-5 if dtype == torch.float32 else 1e-12
            torch.testing.assert_close(in_place, expected, rtol=rtol, atol=rtol * float(g.abs().max()))


# --- GEM --------------------------------------------------------------------------------------
KINDS = ["random", "duplicate", "rank_deficient", "zero_rows", "nearly_parallel", "wide"]


def gem_instance(kind: str, t: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Past-task gradients G [t, p] and a current gradient g that conflicts with some of them."""
    p = 40
    if kind == "random":
        G = rng.standard_normal((t, p))
    elif kind == "duplicate":
        rows = rng.standard_normal((max(1, t // 2), p))
        G = rows[rng.integers(0, len(rows), t)]
    elif kind == "rank_deficient":  # t > rank
        r = max(1, t // 3)
        G = rng.standard_normal((t, r)) @ rng.standard_normal((r, p))
    elif kind == "zero_rows":
        G = rng.standard_normal((t, p))
        G[rng.random(t) < 0.4] = 0.0
    elif kind == "nearly_parallel":
        G = rng.standard_normal(p) + 1e-6 * rng.standard_normal((t, p))
    else:  # "wide": more constraints than dimensions
        p = 5
        G = rng.standard_normal((t, p))
    G = G * 10 ** rng.uniform(-1, 1, size=(t, 1))
    # Push g against a random combination of the rows so that several constraints are active.
    g = -rng.uniform(0, 2) * (rng.random(t) @ G) + rng.standard_normal(p) * rng.uniform(0.1, 2)
    return G, g


def gem_instances(n_per_kind: int = 25, seed: int = 0):
    rng = np.random.default_rng(seed)
    for kind in KINDS:
        for i in range(n_per_kind):
            t = 1 + (i % 20)
            G, g = gem_instance(kind, t, rng)
            yield kind, G, g


# GEM's own settings and a larger ridge. quadprog and the SciPy solution both satisfy the KKT
# conditions to ~1e-15 at any ridge, but with ε = 1e-6 the problem's condition number (~1e11 on
# rank-deficient G) lets two exact solvers differ by ~1e-6, so that one is checked by KKT only.
SETTINGS = [(0.5, 1e-3), (0.0, 1e-3), (0.5, 0.1)]


@pytest.mark.parametrize("margin,eps", SETTINGS)
def test_gem_dual_matches_quadprog(margin, eps):
    active = 0
    for kind, G, g in gem_instances():
        v = solve_gem_dual(G @ G.T, G @ g, margin, eps)
        v_qp, _ = project2cone2(G, g, margin, eps)
        np.testing.assert_allclose(v, v_qp, rtol=1e-6, atol=1e-6 * max(1.0, np.abs(v_qp).max()), err_msg=kind)
        active += int(np.any(v_qp > margin + 1e-6))
    assert active > 100  # most instances have constraints that bind


@pytest.mark.parametrize("margin,eps", [*SETTINGS, (0.0, 1e-6)])
def test_gem_dual_satisfies_kkt(margin, eps):
    """v ≥ margin, ∇ = (GGᵀ + εI)v + Gg ≥ 0, and (v − margin)·∇ = 0, checked directly."""
    for kind, G, g in gem_instances(seed=1):
        v = solve_gem_dual(G @ G.T, G @ g, margin, eps)
        P = G @ G.T + eps * np.eye(len(G))
        grad = P @ v + G @ g
        scale = np.abs(P).max() * max(1.0, np.abs(v).max()) + np.abs(G @ g).max() + 1e-12
        tol = 1e-7 * scale
        assert np.all(v >= margin - 1e-9 * max(1.0, np.abs(v).max())), kind
        assert np.all(grad >= -tol), kind
        assert np.all(np.abs((v - margin) * grad) <= tol * max(1.0, np.abs(v).max())), kind


@pytest.mark.parametrize("margin,eps", SETTINGS)
def test_gem_project_matches_project2cone2(margin, eps):
    for kind, G, g in gem_instances(n_per_kind=10, seed=2):
        out = gem_project(torch.tensor(g), torch.tensor(G), margin, eps).numpy()
        _, expected = project2cone2(G, g, margin, eps)
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max(), err_msg=kind)


def test_gem_projected_gradient_satisfies_constraints_with_zero_margin():
    """With margin 0, G g̃ ≥ 0 up to the ridge: G g̃ = (GGᵀ + εI)v + Gg − εv ≥ −εv."""
    eps = 1e-3
    violated = 0
    for kind, G, g in gem_instances(seed=3):
        out = gem_project(torch.tensor(g), torch.tensor(G), 0.0, eps).numpy()
        v_qp, _ = project2cone2(G, g, 0.0, eps)
        violated += int(np.any(G @ g < 0))
        tol = eps * v_qp.max() + 1e-9 * np.linalg.norm(G, axis=1).max() * np.linalg.norm(g)
        assert np.all(G @ out >= -tol), kind
    assert violated > 100


def test_gem_with_one_constraint_equals_agem():
    """One constraint, margin 0, no ridge: GEM's QP has A-GEM's closed-form solution (paper §5)."""
    projected = 0
    for g, g_ref in random_pairs(n=200, seed=4):
        out = gem_project(torch.tensor(g), torch.tensor(g_ref)[None], margin=0.0, eps=0.0)
        expected = agem_project(torch.tensor(g), torch.tensor(g_ref))
        torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-9 * float(np.abs(g).max()))
        projected += int(g @ g_ref < 0)
    assert projected > 50


def test_gem_float32_gradients():
    rng = np.random.default_rng(5)
    G, g = gem_instance("random", 6, rng)
    out = gem_project(torch.tensor(g, dtype=torch.float32), torch.tensor(G, dtype=torch.float32), 0.5, 1e-3)
    assert out.dtype == torch.float32
    _, expected = project2cone2(G, g, 0.5, 1e-3)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("where", ["gram", "dot"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_gem_dual_rejects_non_finite_input(where, bad):
    gram, dot = np.eye(3), np.array([-1.0, 0.5, -2.0])
    if where == "gram":
        gram[1, 2] = gram[2, 1] = bad
    else:
        dot[1] = bad
    with pytest.raises(QPSolverError, match=r"non-finite.*NaN or inf"):
        solve_gem_dual(gram, dot, 0.5, 1e-3)


@pytest.mark.parametrize("where", ["g", "G"])
def test_gem_project_rejects_non_finite_gradients(where):
    g, G = torch.ones(4), -torch.eye(4)[:2]
    (g if where == "g" else G)[1] = float("nan")
    with pytest.raises(QPSolverError, match=r"non-finite.*NaN or inf"):
        gem_project(g, G)


def test_gem_dual_without_ridge_on_singular_matrix_fails_clearly():
    G = np.array([[1.0, 2.0], [0.0, 0.0]])  # a zero row: GGᵀ is singular
    with pytest.raises(QPSolverError, match=r"not positive definite.*increase gem 'eps'"):
        solve_gem_dual(G @ G.T, G @ np.array([-1.0, 0.0]), 0.0, 0.0)


@pytest.mark.parametrize("shape", [(5,), (2, 4), (2, 6), (1, 2, 5)])
def test_gem_project_rejects_wrong_shape(shape):
    with pytest.raises(ValueError, match=r"G must have shape \[t, 5\]"):
        gem_project(torch.ones(5), torch.ones(shape))


def test_gem_project_with_precomputed_dot_products():
    rng = np.random.default_rng(6)
    G, g = (torch.tensor(a) for a in gem_instance("random", 4, rng))
    torch.testing.assert_close(gem_project(g, G, 0.5, 1e-3, memory_dot_g=G @ g), gem_project(g, G, 0.5, 1e-3), rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match=r"memory_dot_g must have shape \[4\], got \(3,\)"):
        gem_project(g, G, memory_dot_g=(G @ g)[:3])
