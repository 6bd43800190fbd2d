"""The protocol around the methods' steps (paper §2–3): the LCA schedule against a hand-written
loop that evaluates after every step, the order of the training examples (a seeded permutation
per task; MULTI-TASK mixing all tasks from its first batches), and MULTI-TASK's training loss
with and without the output mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from agem.methods import METHODS, make_hyperparameters
from agem.networks.models import build_network
from agem.training.batches import joint_batches, task_batches
from agem.training.evaluation import accuracy
from agem.training.loop import train_run
from agem.training.settings import TrainSettings
from helpers.references import restricted_loss, task_classes
from helpers.streams import SMALL_MLP
from helpers.training import batches, copy_of, make_method

LCA_BATCHES = 10


# --- LCA: a_{k,b,k} after exactly b steps ---------------------------------------------------------
def hand_loop_lca(stream, method_name: str, hparams: dict, memory: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Task after task, batch after batch, evaluating the current task before any step and after
    each of the first LCA_BATCHES steps; the seeds split as the runner documents (init, shuffle,
    method). Returns (acc_lca, acc_final)."""
    init_seed, shuffle_seed, method_seed = np.random.SeedSequence(seed).generate_state(3)
    torch.manual_seed(int(init_seed))
    model = build_network(SMALL_MLP, stream.input_shape, stream.n_outputs)
    method = METHODS[method_name](model, stream, make_hyperparameters(method_name, hparams), memory,
                                  torch.Generator().manual_seed(int(method_seed)))
    shuffle = torch.Generator().manual_seed(int(shuffle_seed))
    tasks = stream.role_tasks("eval")
    lca = np.full((len(tasks), LCA_BATCHES + 1), np.nan)
    final = np.full((len(tasks), len(tasks)), np.nan)
    for k, task in enumerate(tasks):
        method.begin_task(task)
        lca[k, 0] = accuracy(method, task, 2048)
        for step, batch in enumerate(task_batches(task, 10, 1, shuffle), start=1):
            method.observe(batch)
            if step <= LCA_BATCHES:
                lca[k, step] = accuracy(method, task, 2048)
        method.end_task(task)
        final[k, : k + 1] = [accuracy(method, t, 2048) for t in tasks[: k + 1]]
    return lca, final


@pytest.mark.parametrize("method, hparams", [("van", {"lr": 0.1}), ("agem", {"lr": 0.1, "ref_batch_size": 32})])
def test_lca_accuracies_are_after_exactly_b_steps(any_stream, method, hparams):
    record = train_run(any_stream, method, hparams, SMALL_MLP, 20, TrainSettings(lca_batches=LCA_BATCHES), seed=7, log=lambda _: None)
    lca, final = hand_loop_lca(any_stream, method, hparams, 20, seed=7)
    assert np.all(np.isfinite(lca)) and len(np.unique(lca[0])) > 3  # the accuracy moves step by step
    np.testing.assert_array_equal(record.acc_lca, lca)
    np.testing.assert_array_equal(record.acc_final, final)


# --- the order of the training examples ------------------------------------------------------------
def position_lookup(task) -> dict[bytes, int]:
    """Training position of every example of ``task``, keyed by its pixels (all pairwise different)."""
    everything, _ = task.train_batch(torch.arange(task.n_train))
    lookup = {row.numpy().tobytes(): i for i, row in enumerate(everything)}
    assert len(lookup) == task.n_train
    return lookup


def positions_of(lookup: dict[bytes, int], x: torch.Tensor) -> list[int]:
    return [lookup[row.numpy().tobytes()] for row in x]


def test_task_batches_are_a_seeded_permutation_of_the_task(split_stream):
    task = split_stream.tasks[1]
    lookup = position_lookup(task)

    def order(seed: int, epochs: int = 1) -> list[int]:
        generator = torch.Generator().manual_seed(seed)
        return [p for batch in task_batches(task, 10, epochs, generator) for p in positions_of(lookup, batch.x)]

    first = order(3)
    assert sorted(first) == list(range(task.n_train))  # every example once per epoch
    assert first != list(range(task.n_train))  # not file order
    assert first == order(3) and first != order(4)  # seeded
    # the first batches already mix the whole task, not a contiguous stretch of it
    assert max(first[:30]) - min(first[:30]) > task.n_train / 2
    two = order(3, epochs=2)
    assert sorted(two[: task.n_train]) == sorted(two[task.n_train :]) == list(range(task.n_train))
    assert two[: task.n_train] != two[task.n_train :]  # each epoch reshuffled


def test_multitask_batches_mix_the_tasks_from_the_first_batch(permuted_stream):
    tasks = permuted_stream.role_tasks("eval")
    generator = torch.Generator().manual_seed(0)
    lookups = {t.index: position_lookup(t) for t in tasks}
    seen: dict[int, list[int]] = {t.index: [] for t in tasks}
    first_batches_tasks = []
    for b, batch in enumerate(joint_batches(tasks, 10, 1, generator)):
        if b < 5:
            first_batches_tasks.append(set(batch.task_ids.tolist()))
        for task in tasks:
            rows = batch.task_ids == task.index
            if bool(rows.any()):
                positions = positions_of(lookups[task.index], batch.x[rows])
                assert torch.equal(batch.y[rows], task.train_batch(torch.tensor(positions))[1])
                seen[task.index] += positions
    assert all(len(ids) >= 2 for ids in first_batches_tasks)  # tasks mixed within each early batch
    assert set().union(*first_batches_tasks) == {t.index for t in tasks}
    for task in tasks:  # one pass: every example of every task exactly once
        assert sorted(seen[task.index]) == list(range(task.n_train))


# --- MULTI-TASK's training loss --------------------------------------------------------------------
@pytest.mark.parametrize("masked_training", [False, True])
def test_multitask_step_unmasked_by_default_like_the_official_code(split_stream, masked_training):
    """``masked_training: false`` (the default): SGD on the cross-entropy over all outputs; true:
    on each example's own task's outputs. Evaluation is masked either way."""
    hparams = {"lr": 0.1} if not masked_training else {"lr": 0.1, "masked_training": True}
    model, method = make_method(split_stream, "multitask", hparams)
    twin = copy_of(model)
    bias_before = model.layers[-1].bias.detach().clone()
    optimizer = torch.optim.SGD(twin.parameters(), lr=0.1)
    batch = next(batches(split_stream.tasks[1], 1))
    logits = twin(batch.x)
    if masked_training:
        expected = restricted_loss(logits, batch.y, task_classes(split_stream, batch.task_ids))
    else:
        expected = -torch.log_softmax(logits, dim=1)[torch.arange(len(batch.y)), batch.y].mean()
    expected.backward()
    optimizer.step()
    torch.testing.assert_close(method.observe(batch), expected.detach())
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    # the other tasks' outputs move only when unmasked
    other = [c for c in range(split_stream.n_outputs) if c not in split_stream.tasks[1].classes.tolist()]
    changed = (model.layers[-1].bias.detach() - bias_before)[other]
    assert bool((changed != 0).any()) == (not masked_training)
    x, _ = next(split_stream.tasks[0].test_batches(1000))
    ids = torch.full((len(x),), split_stream.tasks[0].index)
    with torch.no_grad():
        predicted = method.predict(x, ids).argmax(1)
    assert set(predicted.tolist()) <= set(split_stream.tasks[0].classes.tolist())


def test_multitask_masked_training_must_be_a_boolean():
    with pytest.raises(ValueError, match="masked_training must be true or false"):
        make_hyperparameters("multitask", {"lr": 0.1, "masked_training": "yes"})


def test_multitask_unmasked_loss_is_not_the_masked_one(split_stream):
    """The two losses differ on this stream (so the test above can tell them apart)."""
    model, _ = make_method(split_stream, "multitask", {"lr": 0.1})
    batch = next(batches(split_stream.tasks[1], 1))
    with torch.no_grad():
        logits = model(batch.x)
        masked = restricted_loss(logits, batch.y, task_classes(split_stream, batch.task_ids))
    assert float(F.cross_entropy(logits, batch.y)) > float(masked) + 0.1
