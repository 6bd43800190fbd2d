"""The regularisers' importance estimators (agem.methods.{regularized,pi,rwalk}) where a sign, a
clipping, a normalisation or a moving-average weight changes the number.

The per-method tests (tests/test_methods_*.py) follow the official procedure step by step, but
on trajectories where plain SGD makes every path-integral contribution −g·Δθ = lr·g² positive, so
a missing ReLU would pass them. Here the second task starts with a penalty that pulls half of
the parameters against their data gradient (Ω and θ* are set by hand after the first task), so
ω is negative on some parameters; each test first checks that its scenario really exercises the
line it guards (the clipped and the unclipped results differ by far more than the tolerance).
The shared building blocks are checked on numbers worked out by hand.
"""

import torch

from agem.methods.regularized import OnlineFisher, add_path_integral_, min_max_normalise
from helpers.methods import Float64Twin, linear_method, task_batches, tiny_stream

# --- building blocks, on numbers worked out by hand -----------------------------------------------


def test_online_fisher_fold_weighs_the_running_estimate_by_one_minus_decay():
    """running ← (1 − decay)·running + (decay / update_every)·window, decay 0.75, every 2:
    [1, 2]·0.25 + [4, 8]·0.375 = [1.75, 3.5]; swapped weights would give [1.0, 2.0]."""
    fisher = OnlineFisher(torch.zeros(2, dtype=torch.float64), update_every=2, decay=0.75)
    fisher.running.copy_(torch.tensor([1.0, 2.0]))
    fisher.add_square(torch.tensor([2.0, -2.0]))
    fisher.add_square(torch.tensor([0.0, 2.0]))  # window = [4, 8]: squares, so the sign of g is lost
    fisher.fold()
    torch.testing.assert_close(fisher.running, torch.tensor([1.75, 3.5], dtype=torch.float64), rtol=0, atol=1e-15)
    torch.testing.assert_close(fisher.window, torch.tensor([4.0, 8.0], dtype=torch.float64), rtol=0, atol=0)  # the fold keeps it
    fisher.clear_window()
    assert bool((fisher.window == 0).all())


def test_online_fisher_folds_every_update_every_steps_counted_from_zero():
    fisher = OnlineFisher(torch.zeros(1), update_every=3, decay=0.9)
    assert [s for s in range(10) if fisher.fold_due(s)] == [2, 5, 8]


def test_min_max_normalise_by_hand():
    torch.testing.assert_close(min_max_normalise(torch.tensor([2.0, 4.0, 6.0, 10.0], dtype=torch.float64)),
                               torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=torch.float64))
    # negative entries: the minimum is subtracted, not zero
    torch.testing.assert_close(min_max_normalise(torch.tensor([-2.0, 0.0, 6.0], dtype=torch.float64)),
                               torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64))
    assert bool((min_max_normalise(torch.full((3,), 5.0)) == 0).all())  # constant: 0/ε, no NaN


def test_path_integral_adds_minus_g_times_the_step_taken():
    """θ ← θ − lr·u moves by Δθ = −lr·u; ω += −g·Δθ = lr·g·u: g = [1, −2, 3], u = [3, 1, −1],
    lr = 0.5 → [1.5, −1, −1.5] added to [1, 1, 1]. Negative where the step opposes g."""
    path = torch.ones(3, dtype=torch.float64)
    add_path_integral_(path, torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64), torch.tensor([3.0, 1.0, -1.0], dtype=torch.float64), 0.5)
    torch.testing.assert_close(path, torch.tensor([2.5, 0.0, -0.5], dtype=torch.float64), rtol=0, atol=1e-15)


# --- PI and RWALK on a trajectory with negative path contributions ------------------------------

PULL_OFFSET = 0.5  # |θ* − θ| set after the first task: the penalty 2λΩ·0.5 = 2 outweighs |g| < 1
HAND_IMPORTANCE = 1.0


def train_first_task_then_pull_back(tmp_path, name: str, hparams: dict):
    """The method after one plain task, then Ω = 1 and θ* = θ ± 0.5 (alternating signs) set by
    hand: during the next task the penalty drags half of the parameters against their gradient.
    Returns (model, method, float64 twin, θ, Ω, θ*) with θ, Ω, θ* as float64 copies."""
    stream = tiny_stream(tmp_path / "s.h5", shared_head=True)
    model, method = linear_method(stream, name, hparams)
    first = stream.tasks[0]
    method.begin_task(first)
    for batch in task_batches(first, 5):
        method.observe(batch)
    method.end_task(first)
    twin = Float64Twin(model, stream)
    signs = torch.tensor([1.0, -1.0]).repeat(len(twin.theta) // 2 + 1)[: len(twin.theta)]
    method.importance.fill_(HAND_IMPORTANCE)
    method.anchor.copy_(method.flat.values + PULL_OFFSET * signs.float())
    return model, method, twin, twin.theta.clone(), method.importance.double().clone(), method.anchor.double().clone()


def test_pi_clips_negative_path_integrals_at_zero(tmp_path):
    """Ω += ReLU(ω / (ξ + (θ − θ*)²)): entries with ω < 0 add nothing (and never subtract)."""
    lr, lam, xi = 0.1, 2.0, 1e-3
    model, method, twin, theta, importance, anchor = train_first_task_then_pull_back(tmp_path, "pi", {"lr": lr, "lam": lam, "xi": xi})
    second = twin.stream.tasks[1]
    path = torch.zeros_like(theta)
    method.begin_task(second)
    for batch in task_batches(second, 5):
        g = twin.gradient(theta, batch)
        step = -lr * (g + 2 * lam * importance * (theta - anchor))
        path -= g * step
        theta = theta + step
        method.observe(batch)
    method.end_task(second)
    ratio = path / (xi + (theta - anchor) ** 2)
    assert float(ratio.min()) < -0.05 * float(ratio.abs().max()), "no negative contribution: the ReLU would go untested"
    assert float(ratio.max()) > 0.05 * float(ratio.abs().max())
    expected = importance + torch.clamp(ratio, min=0)
    tolerance = 1e-3 * float(ratio.abs().max())
    assert float((expected - (importance + ratio)).abs().max()) > 50 * tolerance
    torch.testing.assert_close(method.importance.double(), expected, rtol=1e-3, atol=tolerance)


def test_rwalk_clips_negative_window_scores_at_zero(tmp_path):
    """s_task += ReLU(ω / (ξ + F ⊙ (θ − θ_w)²)) per window of 3 steps (decay 0.8, so the fold's
    weights 0.2 and 0.8/3 differ from the swapped 0.8 and 0.2/3). In the second task, windows
    with ω < 0 on the pulled parameters add nothing to s; then s ← s + (s + s_task)/2 and
    Ω = norm(F) + norm(s)."""
    lr, lam, xi, every, decay = 0.1, 2.0, 1e-3, 3, 0.8
    hparams = {"lr": lr, "lam": lam, "xi": xi, "fisher_update_every": every, "fisher_decay": decay}
    model, method, twin, theta, importance, anchor = train_first_task_then_pull_back(tmp_path, "rwalk", hparams)
    fisher, score = method.fisher.running.double().clone(), method.score.double().clone()  # after the first task
    window, path, task_score, window_start = (torch.zeros_like(theta), torch.zeros_like(theta), torch.zeros_like(theta), theta.clone())
    second = twin.stream.tasks[1]
    clipped_away = torch.zeros_like(theta)
    method.begin_task(second)
    for s, batch in enumerate(task_batches(second, 2)):
        g = twin.gradient(theta, batch)
        if (s + 1) % every == 0:
            window_score = path / (xi + fisher * (theta - window_start) ** 2)
            task_score = task_score + torch.clamp(window_score, min=0)
            clipped_away = clipped_away + torch.clamp(window_score, max=0)
            fisher = (1 - decay) * fisher + decay / every * window
            window_start, path = theta.clone(), torch.zeros_like(theta)
        window = window + g**2
        new_theta = theta - lr * (g + 2 * lam * importance * (theta - anchor))
        path = path - g * (new_theta - theta)
        theta = new_theta
        method.observe(batch)
    method.end_task(second)
    score = score + (score + task_score) / 2
    assert float(clipped_away.abs().max()) > 0.05 * float(task_score.abs().max()), "no negative window: the ReLU would go untested"
    torch.testing.assert_close(method.fisher.running.double(), fisher, rtol=1e-4, atol=1e-9)
    torch.testing.assert_close(method.score.double(), score, rtol=2e-3, atol=1e-4 * float(score.abs().max()))
    normalised = [(v - v.min()) / (v.max() - v.min()) for v in (fisher, score)]
    torch.testing.assert_close(method.importance.double(), normalised[0] + normalised[1], rtol=2e-3, atol=1e-4)
