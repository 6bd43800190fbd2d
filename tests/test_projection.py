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


# GEM's own settings, a larger ridge, and a tiny ridge under which rank-deficient G makes the dual
# matrix's condition number reach ~1e11 (there two exact solvers may differ in v by ~1e-6 while
# agreeing on g̃: the bounds below say by how much each may differ).
SETTINGS = [(0.5, 1e-3), (0.0, 1e-3), (0.5, 0.1), (0.0, 1e-6)]
# A returned v must be the exact solution of the dual with its linear term c = Gg moved by at most
# this fraction of the problem's scale ‖H‖‖v‖ + ‖c‖. Measured on these instances (numpy 2.4,
# scipy 1.17): at worst 3e-13 for SciPy's NNLS, which stops at its own tolerance, and 3e-15 for
# quadprog; 1e-9 leaves room for other BLAS builds while a wrong v misses it by orders of magnitude.
KKT_RELATIVE_TOLERANCE = 1e-9
# The dual is compared entry by entry only where H = GGᵀ + εI is well conditioned: there the
# bound ‖Δr‖/λ_min on ‖Δv‖ is a small number; elsewhere only g̃, which depends on v through G.
WELL_CONDITIONED = 1e6
UNIT_ROUNDOFF = np.finfo(np.float64).eps / 2
BOUND_SNAP = 1e-12  # relative distance to the margin below which an entry of v is taken to be on it


def dual_matrix(G: np.ndarray, eps: float) -> np.ndarray:
    P = G @ G.T
    return 0.5 * (P + P.T) + eps * np.eye(len(G))


def kkt_perturbation(H: np.ndarray, c: np.ndarray, margin: float, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(v snapped to the bound, r, the rounding in r): the snapped v satisfies the KKT conditions
    of min ½vᵀHv + (c + r)ᵀv s.t. v ≥ margin exactly, i.e. it is exactly optimal for a linear term
    moved by r. Free entries (v > margin) need ∇ = Hv + c + r = 0, entries at the bound ∇ ≥ 0.
    Entries within rounding of the margin (or below it) are put on it; the move is accounted for."""
    feasible = np.where(v <= margin + BOUND_SNAP * max(1.0, np.abs(v).max()), margin, v)
    grad = H @ feasible + c
    r = np.where(feasible > margin, -grad, np.maximum(-grad, 0.0))
    rounding = 2 * (len(c) + 2) * UNIT_ROUNDOFF * (np.abs(H) @ np.abs(feasible) + np.abs(c))
    return feasible, r, rounding


def assert_kkt(H, c, margin, v, label):
    """v ≥ margin (up to rounding), and v is the exact dual solution for c moved by a tiny r."""
    feasible, r, rounding = kkt_perturbation(H, c, margin, v)
    scale = np.linalg.norm(H, 2) * np.linalg.norm(feasible) + np.linalg.norm(c)
    assert np.all(v >= margin - BOUND_SNAP * max(1.0, np.abs(v).max())), f"{label}: v < margin"
    assert np.linalg.norm(r) <= KKT_RELATIVE_TOLERANCE * scale + np.linalg.norm(rounding), f"{label}: KKT residual {np.linalg.norm(r):.3g}"
    return feasible, r, rounding


def agreement_bounds(H, G, c, margin, v_ours, v_qp, label) -> tuple[float, float, float]:
    """(‖Δv‖ bound, ‖Δg̃‖ bound, λ_min) for two KKT points of the same strongly convex dual.

    If v₁, v₂ are exact solutions for linear terms c + r₁, c + r₂, the optimality conditions
    give ‖v₁ − v₂‖²_H ≤ (r₂ − r₁)ᵀ(v₁ − v₂), so ‖Δv‖_H ≤ ‖Δr‖/√λ_min(H). Since GGᵀ ⪯ H,
    ‖Gᵀ Δv‖ ≤ ‖Δv‖_H: the projected gradients g̃ = Gᵀv + g differ by at most ‖Δr‖/√λ_min, and
    the duals by at most ‖Δr‖/λ_min. Clipping to v ≥ margin and rounding add their own terms.
    """
    lam_min = float(np.linalg.eigvalsh(H)[0])
    assert lam_min > 0, f"{label}: the dual is not strictly convex, its solution need not be unique"
    f_ours, r_ours, round_ours = assert_kkt(H, c, margin, v_ours, f"{label} (ours)")
    f_qp, r_qp, round_qp = assert_kkt(H, c, margin, v_qp, f"{label} (quadprog)")
    moved = np.linalg.norm(r_ours - r_qp) + np.linalg.norm(round_ours) + np.linalg.norm(round_qp)
    clipped = np.linalg.norm(f_ours - v_ours) + np.linalg.norm(f_qp - v_qp)
    g_norm = np.linalg.norm(G, 2)
    dual_bound = moved / lam_min + clipped
    gradient_bound = moved / np.sqrt(lam_min) + g_norm * clipped
    return dual_bound, gradient_bound, lam_min


@pytest.mark.parametrize("margin,eps", SETTINGS)
def test_gem_projected_gradient_matches_quadprog_within_its_conditioning_bound(margin, eps):
    """SciPy's v and quadprog's v both satisfy the dual's KKT conditions, and the projected
    gradients that GEM steps along agree within the bound ‖Δr‖/√λ_min derived from them (plus
    float rounding of Gᵀv). A wrong v (a sign, the margin, the ridge) breaks KKT or the bound."""
    active = 0
    for kind, G, g in gem_instances():
        H, c = dual_matrix(G, eps), G @ g
        v = solve_gem_dual(G @ G.T, c, margin, eps)
        v_qp, g_tilde_qp = project2cone2(G, g, margin, eps)
        _, gradient_bound, _ = agreement_bounds(H, G, c, margin, v, v_qp, kind)
        g_tilde = gem_project(torch.tensor(g), torch.tensor(G), margin, eps, memory_dot_g=torch.tensor(c)).numpy()
        rounding = 4 * len(G) * UNIT_ROUNDOFF * (np.abs(G).T @ (np.abs(v) + np.abs(v_qp)) + np.abs(g))
        assert np.linalg.norm(g_tilde - g_tilde_qp) <= gradient_bound + np.linalg.norm(rounding), kind
        active += int(np.any(v_qp > margin + 1e-6))
    assert active > 100  # most instances have constraints that bind


@pytest.mark.parametrize("margin,eps", SETTINGS)
def test_gem_dual_matches_quadprog_where_well_conditioned(margin, eps):
    """Entry by entry, v agrees with quadprog's within ‖Δr‖/λ_min wherever cond(H) ≤ 1e6."""
    compared = 0
    for kind, G, g in gem_instances(seed=1):
        H, c = dual_matrix(G, eps), G @ g
        if np.linalg.cond(H) > WELL_CONDITIONED:
            continue
        v = solve_gem_dual(G @ G.T, c, margin, eps)
        v_qp, _ = project2cone2(G, g, margin, eps)
        dual_bound, _, _ = agreement_bounds(H, G, c, margin, v, v_qp, kind)
        assert np.linalg.norm(v - v_qp) <= dual_bound, kind
        assert dual_bound <= 1e-6 * max(1.0, np.abs(v_qp).max()), f"{kind}: the bound is too loose to test anything"
        compared += 1
    assert compared >= 40


@pytest.mark.parametrize("margin,eps", SETTINGS)
def test_gem_dual_satisfies_kkt(margin, eps):
    """v ≥ margin, and v is the exact solution of the dual with c = Gg moved by a tiny r: free
    entries have ∇ = (GGᵀ + εI)v + Gg ≈ 0, entries at the bound ∇ ≥ 0 (complementary slackness)."""
    for kind, G, g in gem_instances(seed=2):
        c = G @ g
        assert_kkt(dual_matrix(G, eps), c, margin, solve_gem_dual(G @ G.T, c, margin, eps), kind)


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
