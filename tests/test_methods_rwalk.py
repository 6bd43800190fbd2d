"""RWALK (agem.methods.rwalk): the importance against an independent float64 simulation of the
official code's procedure, the step against finite differences."""

import pytest
import torch

from agem.methods import make_hyperparameters
from helpers.methods import (
    Float64Twin,
    assert_step_descends_regularised_loss,
    linear_method,
    task_batches,
    tiny_stream,
)


def normalised(v):
    return (v - v.min()) / (v.max() - v.min())


@pytest.mark.parametrize("shared_head", [True, False])
def test_importance_is_normalised_fisher_plus_normalised_path_score(tmp_path, shared_head):
    """Steps of 2 examples (13 per task), Fisher folded every 3 steps (decay 0.8: the fold's
    weights 0.2 and 0.8/3 are not symmetric, so swapping them changes F), two tasks.

    Per step: at (s + 1) ≡ 0 (mod 3), first the score s_task += ReLU(ω / (ξ + F ⊙ (θ − θ_w)²))
    with the running Fisher F before its fold, then F ← 0.2·F + (0.8/3)·W (the window W of squared
    gradients is *not* emptied), θ_w ← θ, ω ← 0; then W += g², the step, ω += −g·Δθ.
    Per task end: s_task doubled after the first task; s ← s + (s + s_task)/2;
    Ω = norm(F) + norm(s); θ_w ← θ, ω, s_task, W ← 0. With one shared head the penalty is
    non-zero during the second task (checked): the Fisher takes g, the path the step taken.
    """
    stream = tiny_stream(tmp_path / "s.h5", shared_head=shared_head)
    lr, lam, xi, every, decay = 0.3, 0.5, 1e-3, 3, 0.8
    model, method = linear_method(stream, "rwalk", {"lr": lr, "lam": lam, "xi": xi, "fisher_update_every": every, "fisher_decay": decay})
    twin = Float64Twin(model, stream)
    theta = twin.theta.clone()
    zeros = torch.zeros_like(theta)
    fisher, window, path, task_score, score, importance = zeros, zeros, zeros, zeros, zeros, zeros
    window_start = anchor = theta.clone()
    largest_penalty = 0.0
    for t, task in enumerate(stream.tasks[:2]):
        method.begin_task(task)
        for s, batch in enumerate(task_batches(task, 2)):
            g = twin.gradient(theta, batch)
            if (s + 1) % every == 0:
                task_score = task_score + torch.clamp(path / (xi + fisher * (theta - window_start) ** 2), min=0)
                fisher = (1 - decay) * fisher + decay / every * window
                window_start, path = theta.clone(), zeros
            window = window + g**2
            penalty = 2 * lam * importance * (theta - anchor)
            largest_penalty = max(largest_penalty, float(penalty.abs().max() / g.abs().max()))
            new_theta = theta - lr * (g + penalty)
            path = path - g * (new_theta - theta)
            theta = new_theta
            method.observe(batch)
        method.end_task(task)
        if t == 0:
            task_score = 2 * task_score
        score = score + (score + task_score) / 2
        importance = normalised(fisher) + normalised(score)
        window_start, anchor, path, task_score, window = theta.clone(), theta.clone(), zeros, zeros, zeros
        torch.testing.assert_close(method.fisher.running.double(), fisher, rtol=1e-4, atol=1e-9)
        torch.testing.assert_close(method.score.double(), score, rtol=2e-3, atol=1e-6 * float(score.max()))
        torch.testing.assert_close(method.importance.double(), importance, rtol=2e-3, atol=1e-4)
        assert float(method.importance.max()) <= 2 and float(method.importance.min()) >= 0
    assert (largest_penalty > 0.01) == shared_head


def test_step_is_sgd_on_the_regularised_loss(tmp_path):
    for shared_head in (True, False):
        stream = tiny_stream(tmp_path / f"s{shared_head}.h5", shared_head=shared_head)
        assert_step_descends_regularised_loss(stream, "rwalk", {"lr": 0.1, "lam": 0.7, "fisher_update_every": 2})


def test_invalid_hyperparameters_are_refused_by_name():
    for values, named in [({"lam": -1}, "lam"), ({"fisher_update_every": 2.5}, "fisher_update_every"),
                          ({"fisher_decay": 0}, "fisher_decay"), ({"xi": 0}, "xi")]:
        with pytest.raises(ValueError, match=named):
            make_hyperparameters("rwalk", values)
