"""PI / synaptic intelligence (agem.methods.pi): importance against a hand computation along an
independently simulated float64 trajectory, the step against finite differences, and a
diverging learning rate recorded as a result."""

import math

import numpy as np
import pytest
import torch

from agem.training.loop import train_run
from agem.training.settings import TrainSettings
from helpers.methods import (
    Float64Twin,
    assert_step_descends_regularised_loss,
    linear_method,
    task_batches,
    tiny_stream,
)
from helpers.streams import SMALL_MLP


@pytest.mark.parametrize("shared_head", [True, False])
def test_importance_is_the_damped_path_integral_by_hand(tmp_path, shared_head):
    """ω = Σ −g·Δθ over a task (Δθ the step actually taken, penalty included); at its end
    Ω += ReLU(ω / (ξ + (θ − θ*)²)) with θ* the parameters at the task's start. With one shared
    head the penalty is non-zero during tasks 2 and 3 (checked), so Δθ ≠ −lr·g there."""
    stream = tiny_stream(tmp_path / "s.h5", shared_head=shared_head)
    lr, lam, xi = 0.3, 0.5, 1e-3
    model, method = linear_method(stream, "pi", {"lr": lr, "lam": lam, "xi": xi})
    twin = Float64Twin(model, stream)
    theta, importance = twin.theta.clone(), torch.zeros_like(twin.theta)
    largest_penalty = 0.0
    for task in stream.tasks[:3]:
        start, path = theta.clone(), torch.zeros_like(theta)
        method.begin_task(task)
        for batch in task_batches(task, 5):
            g = twin.gradient(theta, batch)
            penalty = 2 * lam * importance * (theta - start)
            largest_penalty = max(largest_penalty, float(penalty.abs().max() / g.abs().max()))
            step = -lr * (g + penalty)
            path -= g * step
            theta = theta + step
            method.observe(batch)
        method.end_task(task)
        importance = importance + torch.clamp(path / (xi + (theta - start) ** 2), min=0)
        torch.testing.assert_close(method.importance.double(), importance, rtol=2e-3, atol=1e-5 * float(importance.max()))
        torch.testing.assert_close(method.anchor.double(), theta, rtol=1e-4, atol=1e-6)
        assert bool((method.path == 0).all())  # ω restarts at every task
        if task.index == 0 and not shared_head:
            # masked outputs (4 of 6 units, 3 parameters each) never moved: ω, hence Ω, is exactly 0
            assert int((method.importance == 0).sum()) == 4 * 3
    assert (largest_penalty > 0.01) == shared_head  # multi-head tasks own their parameters: no penalty


def test_step_is_sgd_on_the_regularised_loss(tmp_path):
    for shared_head in (True, False):
        stream = tiny_stream(tmp_path / f"s{shared_head}.h5", shared_head=shared_head)
        assert_step_descends_regularised_loss(stream, "pi", {"lr": 0.2, "lam": 1.0})


def test_a_nan_producing_learning_rate_is_a_diverged_record(permuted_stream):
    record = train_run(permuted_stream, "pi", {"lr": 1e18, "lam": 0.1}, SMALL_MLP, 10, TrainSettings(), 3, log=lambda line: None)
    assert record.diverged and 0 <= record.diverged_step < math.ceil(permuted_stream.tasks[1].n_train / 10)
    assert np.all(np.isnan(record.acc_final))
