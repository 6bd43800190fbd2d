"""EWC (agem.methods.ewc): the online Fisher importance against a hand computation, the
penalty's gradient against finite differences."""

import torch

from helpers.methods import (
    Float64Twin,
    assert_step_descends_regularised_loss,
    linear_method,
    task_batches,
    tiny_stream,
)


def test_importance_is_the_normalised_online_fisher_by_hand(tmp_path):
    """Fold every 2 steps with decay 0.8 (running·0.2 + window·0.8/2; swapped weights, or the
    symmetric decay 0.5, would give other numbers), 5 steps in task 1, 5 in task 2 (batches of 5):

    task 1 (Ω = 0, plain SGD): folds before steps 1 and 3 →
        F₁ = 0.2·(0.2·0 + 0.4·g₀²) + 0.4·(g₁² + g₂²);  g₃², g₄² are dropped with the window at the task end;
    task 2 (5 steps): the running estimate carries over, folds before steps 1 and 3 →
        F₂ = 0.2·(0.2·F₁ + 0.4·h₀²) + 0.4·(h₁² + h₂²);  Ω = (F − min F)/(max F − min F), re-assigned (not
        summed) per task. One shared head: from step 1 of task 2 on, θ ≠ θ* on parameters with
        Ω > 0, so the penalty is non-zero while h₁, h₂ (the data gradients, not the penalised
        update) enter the Fisher.
    """
    stream = tiny_stream(tmp_path / "s.h5")
    lr, lam = 0.2, 3.0
    model, method = linear_method(stream, "ewc", {"lr": lr, "lam": lam, "fisher_update_every": 2, "fisher_decay": 0.8})
    twin = Float64Twin(model, stream)
    theta = twin.theta.clone()
    first, second = stream.tasks[:2]

    method.begin_task(first)
    g = []
    for batch in task_batches(first, 5):
        g.append(twin.gradient(theta, batch))
        theta = theta - lr * g[-1]  # no penalty during the first task
        method.observe(batch)
    method.end_task(first)
    fisher = 0.2 * (0.4 * g[0] ** 2) + 0.4 * (g[1] ** 2 + g[2] ** 2)
    torch.testing.assert_close(method.fisher.running.double(), fisher, rtol=1e-4, atol=1e-12)
    expected = (fisher - fisher.min()) / (fisher.max() - fisher.min())
    torch.testing.assert_close(method.importance.double(), expected, rtol=1e-4, atol=1e-6)
    assert float(method.importance.min()) == 0.0 and abs(float(method.importance.max()) - 1.0) < 1e-6
    torch.testing.assert_close(method.anchor.double(), theta, rtol=1e-5, atol=1e-6)

    method.begin_task(second)
    anchor = theta.clone()
    h, penalties = [], []
    for batch in task_batches(second, 5):
        h.append(twin.gradient(theta, batch))
        penalties.append(2 * lam * expected * (theta - anchor))
        theta = theta - lr * (h[-1] + penalties[-1])
        method.observe(batch)
    method.end_task(second)
    assert all(float(p.abs().max()) > 0.01 * float(g.abs().max()) for p, g in zip(penalties[1:3], h[1:3]))
    fisher = 0.2 * (0.2 * fisher + 0.4 * h[0] ** 2) + 0.4 * (h[1] ** 2 + h[2] ** 2)
    torch.testing.assert_close(method.fisher.running.double(), fisher, rtol=1e-4, atol=1e-12)
    torch.testing.assert_close(method.importance.double(), (fisher - fisher.min()) / (fisher.max() - fisher.min()), rtol=1e-4, atol=1e-6)


def test_step_is_sgd_on_the_regularised_loss(tmp_path):
    for shared_head in (True, False):
        stream = tiny_stream(tmp_path / f"s{shared_head}.h5", shared_head=shared_head)
        assert_step_descends_regularised_loss(stream, "ewc", {"lr": 0.1, "lam": 2.0, "fisher_update_every": 2})
