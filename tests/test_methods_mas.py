"""MAS (agem.methods.mas): the importance against a closed form on a linear model, computed by
hand per example; the step against finite differences."""

import numpy as np
import torch

from helpers.methods import (
    assert_step_descends_regularised_loss,
    linear_method,
    task_batches,
    tiny_stream,
)


def closed_form_importance(model, task, own_outputs) -> np.ndarray:
    """For f(x) = Wx + b restricted to the task's outputs C, ∂‖f_C(x)‖²/∂W_c = 2 f_c(x) x and
    ∂/∂b_c = 2 f_c(x) (0 outside C). Ω = (1/N) Σ over whole batches of 10, in stored order, of
    |Σ over the batch|; the last 5 of N = 25 examples are left out, as in the official code."""
    weight = model.layers[0].weight.detach().double().numpy()
    bias = model.layers[0].bias.detach().double().numpy()
    x_all, _ = task.train_batch(torch.arange(task.n_train))
    x_all = x_all.double().numpy()
    total_w, total_b = np.zeros_like(weight), np.zeros_like(bias)
    for start in (0, 10):
        batch_w, batch_b = np.zeros_like(weight), np.zeros_like(bias)
        for x in x_all[start : start + 10]:
            f = weight @ x + bias
            for c in own_outputs:
                batch_w[c] += 2 * f[c] * x
                batch_b[c] += 2 * f[c]
        total_w += np.abs(batch_w)
        total_b += np.abs(batch_b)
    return np.concatenate([total_w.ravel(), total_b]) / task.n_train


def train_task(method, task):
    method.begin_task(task)
    for batch in task_batches(task, 5):
        method.observe(batch)
    method.end_task(task)


def test_importance_is_reset_and_recomputed_on_each_task(tmp_path):
    for shared_head in (True, False):
        stream = tiny_stream(tmp_path / f"s{shared_head}.h5", n_train=25, shared_head=shared_head)
        model, method = linear_method(stream, "mas", {"lr": 0.1, "lam": 0.5})
        for task in stream.tasks[:2]:
            train_task(method, task)
            own = [0, 1] if shared_head else task.classes.tolist()
            expected = torch.from_numpy(closed_form_importance(model, task, own))
            torch.testing.assert_close(method.importance.double(), expected, rtol=1e-5, atol=1e-7)
            assert method.model.training  # evaluation mode only for the importance pass
        if not shared_head:  # the second task's Ω ignores the first task's outputs (reset, not summed)
            first_outputs = torch.tensor([0, 1, 2, 3])  # W rows 0–1 (2 pixels each) of the first task
            assert bool((method.importance[first_outputs] == 0).all())


def test_step_is_sgd_on_the_regularised_loss(tmp_path):
    for shared_head in (True, False):
        stream = tiny_stream(tmp_path / f"s{shared_head}.h5", shared_head=shared_head)
        assert_step_descends_regularised_loss(stream, "mas", {"lr": 0.1, "lam": 0.3})
