"""The training loop and the methods' steps, on tiny digits streams.

Each method step is checked against an independent computation on a separate copy of the
network: plain autograd on a restricted cross-entropy, torch.optim.SGD, A-GEM's closed form in
float64, and quadprog on GEM's own ``project2cone2`` problem."""

import math

import numpy as np
import pytest
import torch

from agem.data.stream_files import StreamHeader, write_stream
from agem.data.streams import load_stream
from agem.runs.runfile import read_run
from agem.training.evaluation import accuracy
from agem.training.loop import Diverged, LossWatch, train_run
from agem.training.runner import run_job
from agem.training.settings import TrainSettings
from helpers.references import (
    project2cone2,
    reference_gradient,
    restricted_loss,
    task_classes,
)
from helpers.streams import SMALL_MLP, class_task, handmade_raw
from helpers.training import (
    _train_past_tasks,
    batches,
    copy_of,
    make_method,
    parameters,
)

HPARAMS = {"van": {"lr": 0.03}, "agem": {"lr": 0.1, "ref_batch_size": 64}, "gem": {"lr": 0.1}, "multitask": {"lr": 0.03}}


def run(stream, method: str, seed: int = 3, hparams: dict | None = None, memory: int = 30, **settings):
    return train_run(stream, method, hparams or HPARAMS[method], SMALL_MLP, memory, TrainSettings(**settings), seed, log=lambda line: None)


def results(record):
    return record.acc_final, record.acc_lca, record.violations










# --- determinism, shapes ----------------------------------------------------------------------
@pytest.mark.parametrize("method", sorted(HPARAMS))
def test_same_seed_same_results_other_seed_differs(any_stream, method):
    a, b, c = run(any_stream, method, seed=3), run(any_stream, method, seed=3), run(any_stream, method, seed=4)
    for x, y in zip(results(a), results(b)):
        assert np.array_equal(x, y, equal_nan=True)
    assert not all(np.array_equal(x, y, equal_nan=True) for x, y in zip(results(a), results(c)))


def test_shapes_and_nan_pattern(permuted_stream):
    record = run(permuted_stream, "agem", lca_batches=4)
    n = 3  # evaluation tasks
    assert record.n_tasks == n and record.acc_final.shape == (n, n) and record.acc_lca.shape == (n, 5)
    lower = np.tril(np.ones((n, n), dtype=bool))
    assert np.all(np.isfinite(record.acc_final[lower])) and np.all(np.isnan(record.acc_final[~lower]))
    assert np.all((record.acc_final[lower] >= 0) & (record.acc_final[lower] <= 1))
    assert np.all(np.isfinite(record.acc_lca))
    assert record.violations.shape == (n,) and record.violations.dtype == np.int64
    assert record.train_seconds > 0 and record.memory_bytes > 0 and not record.diverged and record.diverged_step == -1
    assert record.acc_final[-1, -1] > 0.5  # it learns the task it just trained on (chance: 0.1)


def test_future_tasks_and_lca_start_agree(split_stream):
    """a_{k,0,k} (before any update on task k) is the accuracy on task k after task k − 1."""
    record = run(split_stream, "van", evaluate_future_tasks=True, lca_batches=3)
    assert np.all(np.isfinite(record.acc_final)) and record.acc_lca.shape == (2, 4)
    for k in range(1, record.n_tasks):
        assert record.acc_lca[k, 0] == record.acc_final[k - 1, k]


def test_cv_tasks_can_be_trained(permuted_stream):
    record = run(permuted_stream, "van", tasks="cv")
    assert record.acc_final.shape == (1, 1) and np.isfinite(record.acc_final[0, 0])


def test_multitask_fills_only_the_last_row(any_stream):
    record = run(any_stream, "multitask")
    n = record.n_tasks
    assert np.all(np.isnan(record.acc_final[:-1])) and np.all(np.isfinite(record.acc_final[-1]))
    assert np.all(np.isnan(record.acc_lca)) and record.acc_lca.shape == (n, 11)
    assert record.violations.tolist() == [0] * n


# --- masking ----------------------------------------------------------------------------------
def test_accuracy_restricts_predictions_to_the_task_classes(split_stream):
    model, method = make_method(split_stream, "van", {"lr": 0.1})
    for task in split_stream.tasks:
        outside = [c for c in range(10) if c not in task.classes.tolist()]
        with torch.no_grad():
            model.layers[-1].bias.fill_(0.1)
            model.layers[-1].bias[outside[0]] = 100.0  # unmasked, every prediction would be this class
        x, y = zip(*task.test_batches(batch_size=1000))
        x, y = torch.cat(x), torch.cat(y)
        with torch.no_grad():
            logits = model(x)
        assert bool((logits.argmax(1) == outside[0]).all())
        predicted = task.classes[logits[:, task.classes].argmax(1)]  # manual masked argmax
        expected = float((predicted == y).double().mean())
        assert 0 < expected < 1
        assert accuracy(method, task, batch_size=7) == pytest.approx(expected, abs=1e-12)


def test_masked_logits_get_no_gradient(split_stream):
    _, method = make_method(split_stream, "van", {"lr": 0.1})
    rng = np.random.default_rng(0)
    ids = torch.tensor([0, 1, 2, 2, 1, 0, 1, 2])  # each example under its own task's mask
    y = torch.stack([split_stream.tasks[k].classes[rng.integers(2)] for k in ids])
    logits = (5 * torch.randn(len(ids), 10)).requires_grad_()
    loss = method.loss(logits, y, ids)
    loss.backward()
    for i, k in enumerate(ids):
        inside = split_stream.output_masks[k]
        assert inside.sum() == 2 and torch.equal(inside.nonzero().flatten(), split_stream.tasks[k].classes)
        assert bool((logits.grad[i, ~inside] == 0).all())
        assert bool((logits.grad[i, inside] != 0).all())
    expected = restricted_loss(logits.detach(), y, task_classes(split_stream, ids))
    torch.testing.assert_close(loss.detach(), expected)


def test_shared_head_has_no_mask(permuted_stream):
    assert permuted_stream.output_masks is None


# --- method steps against independent computations --------------------------------------------
@pytest.mark.parametrize("lr", [0.05, 0.3])
def test_van_step_equals_torch_sgd(any_stream, lr):
    model, method = make_method(any_stream, "van", {"lr": lr})
    twin = copy_of(model)
    optimizer = torch.optim.SGD(twin.parameters(), lr=lr)
    task = any_stream.tasks[1]
    for batch in batches(task, 3):  # several steps: gradients must not accumulate across steps
        loss = method.observe(batch)
        optimizer.zero_grad()
        expected = restricted_loss(twin(batch.x), batch.y, task_classes(any_stream, batch.task_ids))
        expected.backward()
        optimizer.step()
        torch.testing.assert_close(loss, expected.detach())
        for p, q in zip(model.parameters(), twin.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)




def steps_on_last_task(stream, model, method, n: int = 25):
    """Train a few steps on each earlier task, then ``n`` steps on the last one; yield, per step,
    a copy of the network as it was before the step, the batch, and the update divided by lr."""
    *past, current = stream.tasks
    _train_past_tasks(method, past)
    method.begin_task(current)
    for batch in batches(current, n):
        twin = copy_of(model)
        before = parameters(model)
        method.observe(batch)
        yield twin, batch, (before - parameters(model)).double() / method.hparams.lr


def gradients(twin, stream, batch, memory_sets):
    """g on the batch and one row per (x, y, task_ids) memory set, by plain autograd, in float64."""
    g = reference_gradient(twin, stream, batch.x, batch.y, batch.task_ids).double()
    return g, torch.stack([reference_gradient(twin, stream, *m) for m in memory_sets]).double()


def test_agem_step_equals_closed_form_projection(any_stream):
    """ref_batch_size ≥ memory: g_ref is the gradient on the whole memory, each example under
    its own task's mask; the step is SGD on g̃ = g − (gᵀg_ref / g_refᵀg_ref) g_ref if gᵀg_ref < 0."""
    model, method = make_method(any_stream, "agem", {"lr": 0.1, "ref_batch_size": 1000})
    counts = {True: 0, False: 0}
    for twin, batch, applied in steps_on_last_task(any_stream, model, method):
        assert len(method.memory) == 20 * (len(any_stream.tasks) - 1)
        g, (g_ref,) = gradients(twin, any_stream, batch, [(method.memory.x, method.memory.y, method.memory.task_ids)])
        conflict = float(g @ g_ref) < 0
        expected = g - (g @ g_ref) / (g_ref @ g_ref) * g_ref if conflict else g
        torch.testing.assert_close(applied, expected, rtol=0, atol=2e-5 * float(expected.abs().max()))
        counts[conflict] += 1
    assert counts[True] > 0 and counts[False] > 0  # both branches are exercised
    assert method.violations[any_stream.tasks[0].index] == 0  # first task: plain SGD
    assert method.violations[any_stream.tasks[-1].index] == counts[True]


def test_agem_memory_grows_per_task(permuted_stream):
    _, method = make_method(permuted_stream, "agem", {"lr": 0.1}, memory=25)
    for k, task in enumerate(permuted_stream.tasks, start=1):
        _train_past_tasks(method, [task], steps=2)
        assert len(method.memory) == 25 * k and method.memory.n_tasks == k
        assert sorted(set(method.memory.task_ids.tolist())) == [t.index for t in permuted_stream.tasks[:k]]


def test_agem_violations_only_after_the_first_task(permuted_stream):
    record = run(permuted_stream, "agem")
    assert record.violations[0] == 0
    assert record.violations[1:].sum() > 0


@pytest.mark.parametrize("margin,eps", [(0.5, 1e-3), (0.0, 1e-3)])
def test_gem_step_equals_quadprog_projection(any_stream, margin, eps):
    model, method = make_method(any_stream, "gem", {"lr": 0.1, "margin": margin, "eps": eps})
    counts = {True: 0, False: 0}
    for twin, batch, applied in steps_on_last_task(any_stream, model, method):
        g, G = gradients(twin, any_stream, batch, method.memory.per_task())
        conflict = bool((G @ g < 0).any())
        expected = torch.as_tensor(project2cone2(G.numpy(), g.numpy(), margin, eps)[1]) if conflict else g
        torch.testing.assert_close(applied, expected, rtol=0, atol=1e-5 * float(expected.abs().max()))
        counts[conflict] += 1
    assert counts[True] > 0 and counts[False] > 0
    assert method.violations[any_stream.tasks[-1].index] == counts[True]


def test_gem_applied_gradient_satisfies_the_constraints(any_stream):
    """Margin 0, tiny ridge: after a violating step, every past task's gᵀg̃ ≥ 0 (up to rounding)."""
    model, method = make_method(any_stream, "gem", {"lr": 0.1, "margin": 0.0, "eps": 1e-7})
    projected = 0
    for twin, batch, applied in steps_on_last_task(any_stream, model, method):
        g, G = gradients(twin, any_stream, batch, method.memory.per_task())
        if bool((G @ g < 0).any()):
            projected += 1
            scale = G.norm(dim=1) * applied.norm()
            assert bool((G @ applied >= -1e-5 * scale).all()), (G @ applied / scale).tolist()
    assert projected > 0


# --- divergence -------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["van", "agem", "gem"])
def test_huge_learning_rate_is_a_diverged_result(permuted_stream, method):
    record = run(permuted_stream, method, hparams={"lr": 1e18})
    assert record.diverged and 0 <= record.diverged_step < math.ceil(permuted_stream.tasks[1].n_train / 10)
    assert np.all(np.isnan(record.acc_final))


@pytest.mark.parametrize("method", ["agem", "gem"])
def test_non_finite_batch_after_a_task_does_not_raise(permuted_stream, method):
    _, m = make_method(permuted_stream, method, {"lr": 0.1})
    _train_past_tasks(m, permuted_stream.tasks[:2], steps=2)
    m.begin_task(permuted_stream.tasks[2])
    batch = next(batches(permuted_stream.tasks[2], 1))
    batch.x[0, 5] = float("inf")
    assert not torch.isfinite(m.observe(batch))


def test_loss_watch_reports_the_first_non_finite_step():
    watch = LossWatch(torch.device("cpu"), window=4)
    losses = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, math.inf, math.nan, 9.0]
    with pytest.raises(Diverged) as caught:
        for step, loss in enumerate(losses, start=100):
            watch.record(torch.tensor(loss), step)
        watch.check()
    assert caught.value.step == 106
    fine = LossWatch(torch.device("cpu"), window=3)
    for step in range(7):
        fine.record(torch.tensor(float(step)), step)
    assert fine.check() == 6.0  # the mean of what was recorded since the last check


# --- runner -----------------------------------------------------------------------------------
def test_run_job_writes_a_readable_run_file(stream_files, tmp_path, capsys):
    settings = {
        "dataset": "permuted_digits", "method": "agem", "hparams": {"lr": 0.1, "ref_batch_size": 64},
        "network": SMALL_MLP, "memory_per_task": 30, "training": {"lca_batches": 3}, "device": "cpu",
    }
    out = tmp_path / "runs" / "seed5.h5"
    run_job(str(stream_files["permuted", 1]), 1, settings, 1, str(out))
    assert "wrote" in capsys.readouterr().out
    record = read_run(out)
    assert (record.dataset, record.method, record.seed) == ("permuted_digits", "agem", 1)
    assert record.config["seed"] == 1 and record.config["threads"] == 1
    assert record.config["stream"] == str(stream_files["permuted", 1]) and record.config["hparams"] == settings["hparams"]
    assert {"git_commit", "torch", "numpy", "python", "agem_repro", "device"} <= set(record.versions)
    assert record.versions["torch"] == torch.__version__
    # the job's results are exactly those of the same training in this process
    direct = train_run(load_stream(stream_files["permuted", 1]), "agem", settings["hparams"], SMALL_MLP, 30,
                       TrainSettings(lca_batches=3), 1, log=lambda line: None)
    for x, y in zip(results(record), results(direct)):
        assert np.array_equal(x, y, equal_nan=True)
    assert list(tmp_path.joinpath("runs").iterdir()) == [out]


def test_balanced_accuracy_is_the_mean_of_per_class_accuracies(tmp_path):
    # Test set: three examples of class 0, one of class 1; a network biased to always say 0
    # is right on 3 of 4 examples (0.75) but on one class of two (balanced: (1 + 0) / 2 = 0.5).
    raw = handmade_raw(train_y=[0, 1, 0, 1], test_y=[0, 0, 0, 1], shape=(4,))
    tasks = [class_task("eval", [0, 1], raw)]
    accuracies = {}
    for balanced in (False, True):
        path = tmp_path / f"balanced_{balanced}.h5"
        write_stream(path, StreamHeader("handmade", 0, "split", 2, {}, balanced_accuracy=balanced), raw, tasks)
        stream = load_stream(path)
        model, method = make_method(stream, "van", {"lr": 0.1})
        with torch.no_grad():
            model.layers[-1].bias.copy_(torch.tensor([100.0, -100.0]))
        accuracies[balanced] = accuracy(method, stream.tasks[0], batch_size=3)
    assert accuracies == {False: 0.75, True: 0.5}


def test_run_records_the_inputs_of_the_memory_formulas(permuted_stream):
    record = train_run(permuted_stream, "van", {"lr": 0.1}, SMALL_MLP, 10, TrainSettings(), seed=3, log=lambda _: None)
    assert record.n_parameters == (64 * 32 + 32) + (32 * 10 + 10)  # P of the 64-32-10 MLP
    assert record.hidden_units == 32  # H: the one hidden layer's width


def test_memory_accuracy_is_recorded_for_rehearsal_methods(permuted_stream):
    settings = TrainSettings()
    agem = train_run(permuted_stream, "agem", {"lr": 0.1}, SMALL_MLP, 30, settings, seed=3, log=lambda _: None)
    van = train_run(permuted_stream, "van", {"lr": 0.1}, SMALL_MLP, 30, settings, seed=3, log=lambda _: None)
    assert van.acc_memory is None
    n = agem.n_tasks
    lower = np.tril(np.ones((n, n), dtype=bool))
    assert np.all(np.isfinite(agem.acc_memory[lower])) and np.all(np.isnan(agem.acc_memory[~lower]))
    # Memory examples are training examples of the task just learnt: the network fits them
    # at least as well as chance (10 classes) right after the task.
    assert np.all(np.diag(agem.acc_memory) > 0.1)
