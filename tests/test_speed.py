"""The faster training loop and GEM's batched pass: same batches, same gradients, same results.

Batches are cut from chunks gathered once (agem.training.batches); each must hold exactly the
floats the old per-batch gathering produced, in the same order. GEM's ``batched`` pass must give
the loop's per-task gradients to float rounding. A-GEM's Avalanche-style options must fill and
sample the memory as documented.
"""

from __future__ import annotations

import pytest
import torch

from agem.methods import Batch
from agem.methods.memory import EpisodicMemory
from agem.methods.projection import agem_project, agem_project_on_device_
from agem.networks.models import build_network
from agem.tools.loop_bench import LoopBenchSettings, format_loop_report, run_loop_benchmark
from agem.training.batches import examples_per_chunk, task_batches
from agem.training.loop import train_run
from agem.training.settings import TrainSettings
from helpers.training import make_method


def _reference_batches(task, batch_size: int, epochs: int, seed: int):
    """The pre-chunking loop, written out: one randperm per epoch, each batch gathered alone."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for positions in torch.randperm(task.n_train, generator=generator).split(batch_size):
            yield task.train_batch(positions)


@pytest.mark.parametrize("chunk_bytes", [1, 7 * 4 * 64 * 10, 2**30])  # one batch, 7 batches, whole epoch
@pytest.mark.parametrize("batch_size", [10, 7])  # 7: a ragged last batch
def test_chunked_batches_are_bit_identical_to_gathering_batch_by_batch(any_stream, chunk_bytes, batch_size):
    task = any_stream.tasks[1]
    got = list(task_batches(task, batch_size, 2, torch.Generator().manual_seed(5), chunk_bytes))
    expected = list(_reference_batches(task, batch_size, 2, 5))
    assert len(got) == len(expected) == 2 * -(-task.n_train // batch_size)
    for batch, (x, y) in zip(got, expected):
        assert torch.equal(batch.x, x) and torch.equal(batch.y, y)
        assert torch.equal(batch.task_ids, torch.full_like(y, task.index))


def test_a_chunk_holds_whole_batches_within_its_budget(permuted_stream):
    task = permuted_stream.tasks[0]
    example_bytes = 4 * 64  # 8×8 digits as float32
    assert examples_per_chunk(task, 10, 25 * example_bytes) == 20
    assert examples_per_chunk(task, 10, 1) == 10  # never less than one batch


@pytest.mark.parametrize("method", ["van", "agem", "gem", "multitask"])
def test_same_config_and_seed_give_identical_matrices(permuted_stream, method):
    runs = [train_run(permuted_stream, method, {"lr": 0.1}, {"type": "mlp", "hidden": [32]}, 20, TrainSettings(), 7, log=lambda _: None)
            for _ in range(2)]
    for name in ("acc_final", "acc_lca"):
        assert torch.equal(torch.as_tensor(getattr(runs[0], name)).nan_to_num(-1), torch.as_tensor(getattr(runs[1], name)).nan_to_num(-1))


def test_flat_binding_follows_a_replaced_gradient(permuted_stream):
    """A skipped re-binding must not survive someone else replacing ``p.grad``."""
    model, method = make_method(permuted_stream, "van", {"lr": 0.1})
    flat = method.flat
    x, y = permuted_stream.tasks[0].train_batch(torch.arange(5))
    flat.backward_into(0, method.loss(model(x), y, torch.zeros_like(y)))
    expected = flat.grads[0].clone()
    for p in flat.params:
        p.grad = None  # e.g. model.zero_grad(set_to_none=True)
    flat.backward_into(0, method.loss(model(x), y, torch.zeros_like(y)))
    assert torch.equal(flat.grads[0], expected)
    assert all(p.grad is not None for p in flat.params)


def _gem_pair(stream, past: int, memory: int = 12):
    """A looping and a batched GEM from the same weights, with the same ``past`` tasks stored."""
    methods = []
    for batched in (False, True):
        _, method = make_method(stream, "gem", {"lr": 0.1, "batched": batched}, memory=memory)
        # The loop on autograd forms every past task's row at every step (the written path skips
        # them when no conflict is possible, with the same steps: tests/test_mlp_gradients.py).
        method.gradients = None
        for task in stream.tasks[:past]:
            method.begin_task(task)
            method.end_task(task)
        method.begin_task(stream.tasks[past])
        methods.append(method)
    return methods


@pytest.mark.parametrize("past", [2])
def test_batched_gem_gradients_equal_the_loop(any_stream, past):
    loop, batched = _gem_pair(any_stream, past)
    x, y = any_stream.tasks[past].train_batch(torch.arange(6))
    batch = Batch(x, y, torch.full_like(y, past))
    # Independent reference, before the step moves the weights: torch.autograd.grad per task.
    references = [torch.cat([g.flatten() for g in torch.autograd.grad(loop.loss(loop.model(mx), my, mids), list(loop.model.parameters()))])
                  for mx, my, mids in loop.memory.per_task()]
    loop.observe(batch)
    batched.observe(batch)
    rows = slice(1, 1 + past)
    for row, reference in enumerate(references, start=1):
        assert torch.allclose(batched.flat.grads[row], reference, rtol=1e-5, atol=1e-6)
    assert torch.allclose(loop.flat.grads[rows], batched.flat.grads[rows], rtol=1e-5, atol=1e-6)
    assert torch.allclose(loop.flat.values, batched.flat.values, rtol=1e-5, atol=1e-6)


def test_batched_gem_falls_back_when_memories_differ_in_size(permuted_stream):
    loop, batched = _gem_pair(permuted_stream, 2)
    for method in (loop, batched):  # drop one example of the first task's memory
        keep = torch.ones(len(method.memory), dtype=torch.bool)
        keep[0] = False
        memory = method.memory
        memory.x, memory.y, memory.task_ids = memory.x[keep], memory.y[keep], memory.task_ids[keep]
        memory._task_slices = [(i, slice(max(s.start - 1, 0), s.stop - 1)) for i, s in memory._task_slices]
    assert batched.memory.stacked() is None
    x, y = permuted_stream.tasks[2].train_batch(torch.arange(6))
    loop.observe(Batch(x, y, torch.full_like(y, 2)))
    batched.observe(Batch(x, y, torch.full_like(y, 2)))
    assert torch.equal(loop.flat.values, batched.flat.values)  # the same loop ran in both


def test_batched_gem_refuses_batch_norm(permuted_stream):
    from agem.methods import METHODS, make_hyperparameters

    model = torch.nn.Sequential(torch.nn.Linear(64, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 10))
    with pytest.raises(ValueError, match="batch norm.*batched: false"):
        METHODS["gem"](model, permuted_stream, make_hyperparameters("gem", {"batched": True}), 10, torch.Generator())


def test_uniform_fill_draws_from_the_whole_task_and_class_quota_balances(split_stream):
    task = split_stream.tasks[1]
    labels = task.train_labels()
    counts = {"uniform": [], "class_quota": []}
    for seed in range(20):
        for fill in counts:
            memory = EpisodicMemory(9, torch.Generator().manual_seed(seed))
            memory.add_task(task, fill=fill)
            assert len(memory) == 9 and set(memory.y.tolist()) <= set(labels.tolist())
            counts[fill].append(sorted(torch.unique(memory.y, return_counts=True)[1].tolist()))
    assert all(c == [4, 5] for c in counts["class_quota"])  # 9 slots over 2 classes
    assert any(c != [4, 5] for c in counts["uniform"])  # uniform ignores the classes
    with pytest.raises(ValueError, match="memory fill"):
        EpisodicMemory(9, torch.Generator()).add_task(task, fill="herding")


def test_task_balanced_reference_batch_takes_an_equal_share_of_every_task(permuted_stream):
    memory = EpisodicMemory(10, torch.Generator().manual_seed(0))
    for task in permuted_stream.tasks[:3]:
        memory.add_task(task)
    x, y, ids = memory.sample_task_balanced(25)
    assert torch.bincount(ids).tolist() == [8, 8, 8]  # 25 // 3 from each, without replacement
    for k in range(3):
        rows = x[ids == k]
        assert len(torch.unique(rows, dim=0)) == 8
        stored = memory.x[memory.task_ids == k]
        assert all((stored == row).all(1).any() for row in rows)


def test_agem_rejects_unknown_memory_options(permuted_stream):
    with pytest.raises(ValueError, match="ref_sampling"):
        make_method(permuted_stream, "agem", {"ref_sampling": "balanced"})
    with pytest.raises(ValueError, match="memory_fill"):
        make_method(permuted_stream, "agem", {"memory_fill": "herding"})


def test_agem_with_avalanche_options_trains(permuted_stream):
    record = train_run(permuted_stream, "agem", {"lr": 0.1, "memory_fill": "uniform", "ref_sampling": "task_balanced", "ref_batch_size": 8},
                       {"type": "mlp", "hidden": [32]}, 10, TrainSettings(), 0, log=lambda _: None)
    assert record.acc_final[-1, 0] > 0.2  # well above chance (10 classes)


def test_loop_benchmark_reports_job_and_bench_steps():
    report = run_loop_benchmark(LoopBenchSettings(n_tasks=2, n_train=40, rounds=1, bench_repeats=3, memory_per_task=10))
    assert [r["method"] for r in report["rows"]] == ["van", "agem"]
    assert all(r["job_ms"] > 0 and r["bench_ms"] > 0 and r["ratio"] == r["job_ms"] / r["bench_ms"] for r in report["rows"])
    assert "job/bench" in format_loop_report(report)


def test_network_builder_unchanged_for_peer_initialisation():
    """The peer benchmark rebuilds the loop's initial network from the seed: same derivation."""
    import numpy as np

    torch.manual_seed(int(np.random.SeedSequence(3).generate_state(3)[0]))
    a = build_network({"type": "mlp", "hidden": [8]}, (4,), 2)
    torch.manual_seed(int(np.random.SeedSequence(3).generate_state(3)[0]))
    b = build_network({"type": "mlp", "hidden": [8]}, (4,), 2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_sync_free_projection_equals_the_closed_form():
    generator = torch.Generator().manual_seed(0)
    g = torch.randn(500, generator=generator)
    conflicting = -g + 0.3 * torch.randn(500, generator=generator)
    agreeing = g + 0.3 * torch.randn(500, generator=generator)
    out = g.clone()
    assert bool(agem_project_on_device_(out, conflicting)) is True
    assert torch.allclose(out, agem_project(g, conflicting), rtol=1e-6, atol=1e-7)
    assert float(torch.dot(out, conflicting)) == pytest.approx(0, abs=1e-3)
    out = g.clone()
    assert bool(agem_project_on_device_(out, agreeing)) is False
    assert torch.equal(out, g)  # kept exactly


def test_agem_brings_device_counted_violations_into_the_record(permuted_stream):
    _, method = make_method(permuted_stream, "agem", {"lr": 0.1})
    task = permuted_stream.tasks[1]
    method.begin_task(task)
    method.violations[task.index] = 2
    method.pending_violations = torch.tensor(3)  # what the CUDA step accumulates
    method.end_task(task)
    assert method.violations[task.index] == 5 and method.pending_violations is None
