"""The rehearsal and importance passes on a network with batch norm, in the mode the official
code runs them (``train_phase`` in ``conv_split_cifar.py``/``model.py`` before 77c5244):

* A-GEM's reference pass on the memory: training mode (batch statistics, running statistics
  move), ``ref_batch_size`` distinct memory examples when the memory holds more, each example
  under its own task's output mask;
* GEM's per-task memory gradients: training mode (``store_ref_grads`` with ``train_phase: True``);
* MAS's importance: evaluation mode (``accumulate_hebbian_scores`` with ``train_phase: False``).

Each is read off the network itself (a hook records the mode and inputs of every forward pass)
and the gradients are compared with plain autograd on a copy of the network in that mode."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from agem.methods import METHODS, make_hyperparameters
from helpers.references import reference_gradient
from helpers.training import _train_past_tasks, batches

HIDDEN = 16


class BatchNormNet(nn.Module):
    """x → linear → batch norm → ReLU → linear: the smallest network whose outputs depend on the mode."""

    def __init__(self, n_inputs: int, n_outputs: int):
        super().__init__()
        self.hidden = nn.Linear(n_inputs, HIDDEN)
        self.norm = nn.BatchNorm1d(HIDDEN, eps=1e-3, momentum=0.1)
        self.out = nn.Linear(HIDDEN, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.norm(self.hidden(x.flatten(1)))))


class ForwardLog:
    """(training mode, inputs) of every forward pass of a network."""

    def __init__(self, model: nn.Module):
        self.calls: list[tuple[bool, torch.Tensor]] = []
        model.register_forward_pre_hook(lambda module, args: self.calls.append((module.training, args[0].detach().clone())))

    def take(self) -> list[tuple[bool, torch.Tensor]]:
        calls, self.calls = self.calls, []
        return calls


def batch_norm_method(stream, name: str, hparams: dict, memory: int = 20, seed: int = 0):
    torch.manual_seed(seed)
    model = BatchNormNet(stream.input_shape[0], stream.n_outputs)
    method = METHODS[name](model, stream, make_hyperparameters(name, hparams), memory, torch.Generator().manual_seed(seed))
    return model, method, ForwardLog(model)


def twin_of(model: nn.Module) -> nn.Module:
    """A copy of the network, in the same mode, without the copy of its forward log."""
    twin = copy.deepcopy(model)
    twin._forward_pre_hooks.clear()
    return twin


def memory_rows(memory, x: torch.Tensor) -> torch.Tensor:
    """The index in the memory of every row of ``x`` (each must be stored exactly once)."""
    matches = (x[:, None, :] == memory.x[None, :, :]).all(dim=2)
    assert bool((matches.sum(dim=1) == 1).all()), "a reference example is not a (unique) memory example"
    return matches.float().argmax(dim=1)


# --- A-GEM --------------------------------------------------------------------------------------
def test_agem_reference_pass_trains_on_ref_batch_size_memory_examples_under_their_own_masks(any_stream):
    ref_batch_size = 16
    model, method, log = batch_norm_method(any_stream, "agem", {"lr": 0.1, "ref_batch_size": ref_batch_size})
    *past, current = any_stream.tasks
    _train_past_tasks(method, past)
    memory = method.memory
    assert len(memory) == 20 * len(past) > ref_batch_size  # the memory holds more than one g_ref batch
    assert len(torch.unique(memory.x, dim=0)) == len(memory)
    method.begin_task(current)
    log.take()
    for batch in batches(current, 5):
        twin = twin_of(model)  # before the step, in training mode like the network
        statistics_before = model.norm.running_mean.clone()
        method.observe(batch)
        (ref_training, x_ref), (batch_training, x_batch) = log.take()
        assert ref_training and batch_training  # both passes in training mode
        assert torch.equal(x_batch, batch.x)
        assert len(x_ref) == ref_batch_size
        rows = memory_rows(memory, x_ref)
        assert len(torch.unique(rows)) == ref_batch_size  # drawn without replacement
        # g_ref: the restricted loss of each memory example under its own task's mask, with the
        # batch statistics of the reference batch (training mode)
        expected = reference_gradient(twin, any_stream, memory.x[rows], memory.y[rows], memory.task_ids[rows])
        torch.testing.assert_close(method.flat.grads[1], expected, rtol=1e-4, atol=1e-6)
        # the running statistics moved twice: once for the memory batch, once for the current batch
        hidden_ref, hidden_batch = twin.hidden(x_ref).detach(), twin.hidden(batch.x).detach()
        after_ref = 0.9 * statistics_before + 0.1 * hidden_ref.mean(0)
        torch.testing.assert_close(model.norm.running_mean, 0.9 * after_ref + 0.1 * hidden_batch.mean(0), rtol=1e-5, atol=1e-6)


def test_agem_memory_examples_of_several_tasks_each_get_their_own_mask(split_stream):
    """On a multi-head stream a g_ref batch mixes tasks, and the masks change the gradient (so the
    check above can tell a missing or shared mask)."""
    model, method, log = batch_norm_method(split_stream, "agem", {"lr": 0.1, "ref_batch_size": 16})
    *past, current = split_stream.tasks
    _train_past_tasks(method, past)
    method.begin_task(current)
    twin = twin_of(model)
    log.take()
    method.observe(next(batches(current, 1)))
    (_, x_ref), _ = log.take()
    rows = memory_rows(method.memory, x_ref)
    ids = method.memory.task_ids[rows]
    assert len(torch.unique(ids)) >= 2
    params = list(twin.parameters())
    unmasked = torch.cat([g.flatten() for g in torch.autograd.grad(F.cross_entropy(twin(x_ref), method.memory.y[rows]), params)])
    assert not torch.allclose(method.flat.grads[1], unmasked, rtol=1e-3, atol=1e-5)


# --- GEM ----------------------------------------------------------------------------------------
def test_gem_memory_gradients_in_training_mode(any_stream):
    model, method, log = batch_norm_method(any_stream, "gem", {"lr": 0.1})
    *past, current = any_stream.tasks
    _train_past_tasks(method, past)
    method.begin_task(current)
    log.take()
    for batch in batches(current, 4):
        twin = twin_of(model)
        method.observe(batch)
        calls = log.take()
        assert len(calls) == len(past) + 1 and all(training for training, _ in calls)
        for row, (x, y, ids) in enumerate(method.memory.per_task(), start=1):
            expected = reference_gradient(twin, any_stream, x, y, ids)  # batch statistics of that task's memory
            torch.testing.assert_close(method.flat.grads[row], expected, rtol=1e-4, atol=1e-6)
    assert model.training


# --- MAS ----------------------------------------------------------------------------------------
def mas_importance_in_eval_mode(twin: nn.Module, task, own_outputs, n_train: int) -> torch.Tensor:
    """(1/N) Σ over whole batches of 10, stored order, |∂ Σ ‖f_own(x)‖² / ∂θ|, with the network in
    evaluation mode (running statistics)."""
    twin.eval()
    params = list(twin.parameters())
    total = torch.zeros(sum(p.numel() for p in params), dtype=torch.float64)
    for start in range(0, n_train - 9, 10):
        x, _ = task.train_batch(torch.arange(start, start + 10))
        logits = twin(x)
        if own_outputs is not None:
            logits = logits[:, own_outputs]
        grads = torch.autograd.grad(logits.square().sum(), params)
        total += torch.cat([g.flatten() for g in grads]).abs().double()
    return total / n_train


def test_mas_importance_in_evaluation_mode(any_stream):
    model, method, log = batch_norm_method(any_stream, "mas", {"lr": 0.1, "lam": 0.1})
    task = any_stream.tasks[0]
    method.begin_task(task)
    for batch in batches(task, 5):
        method.observe(batch)
    twin = twin_of(model)
    statistics = (model.norm.running_mean.clone(), model.norm.running_var.clone())
    assert not torch.allclose(statistics[0], torch.zeros(HIDDEN))  # running statistics differ from a batch's
    log.take()
    method.end_task(task)
    calls = log.take()
    assert calls and not any(training for training, _ in calls)  # every importance pass in eval mode
    assert torch.equal(model.norm.running_mean, statistics[0]) and torch.equal(model.norm.running_var, statistics[1])
    assert model.training  # training mode again afterwards
    masks = any_stream.output_masks
    own = None if masks is None else masks[task.index]
    expected = mas_importance_in_eval_mode(twin, task, own, task.n_train)
    torch.testing.assert_close(method.importance.double(), expected, rtol=1e-4, atol=1e-7 * float(expected.max()))


@pytest.mark.parametrize("name", ["agem", "gem", "mas"])
def test_the_network_trains_in_training_mode(any_stream, name):
    """The current batch's step always runs in training mode, whatever the method does around it."""
    _, method, log = batch_norm_method(any_stream, name, {"lr": 0.1})
    _train_past_tasks(method, any_stream.tasks[:1], steps=2)
    method.begin_task(any_stream.tasks[1])
    log.take()
    batch = next(batches(any_stream.tasks[1], 1))
    method.observe(batch)
    assert [training for training, x in log.take() if torch.equal(x, batch.x)] == [True]
