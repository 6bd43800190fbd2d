"""Episodic memory (paper §5): per-class quota, sampled without replacement, task ids kept.

The stream here is hand-made with pairwise different images, so every stored example can be
traced back to exactly one training position of its task."""

import numpy as np
import pytest
import torch

from agem.data.streams import load_stream
from agem.methods.memory import EpisodicMemory, per_class_quota
from helpers.streams import class_task, handmade_raw, write_handmade

# task 0: classes 0..9, 40 training examples each; task 1: class 10 with 60, class 11 with only 5
TRAIN_Y = np.concatenate([np.repeat(np.arange(10), 40), np.full(60, 10), np.full(5, 11)])
TEST_Y = np.arange(12)


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    rng = np.random.default_rng(0)
    train_y = rng.permutation(TRAIN_Y)  # classes interleaved in the base set
    raw = handmade_raw(train_y, TEST_Y, (2, 2), seed=1)
    tasks = [class_task("eval", np.arange(10), raw), class_task("eval", [10, 11], raw)]
    return load_stream(write_handmade(tmp_path_factory.mktemp("memory") / "memory.h5", raw, tasks, "split", 12))


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def positions_of(task, x: torch.Tensor, y: torch.Tensor) -> list[int]:
    """The training position of every stored example, found by comparing inputs."""
    all_x, all_y = task.train_batch(torch.arange(task.n_train))
    where = {row.numpy().tobytes(): i for i, row in enumerate(all_x)}
    assert len(where) == task.n_train  # the hand-made images are pairwise different
    found = [where[row.numpy().tobytes()] for row in x]
    assert torch.equal(all_y[found], y)  # each example kept its own label
    return found


def filled(stream, seed: int) -> EpisodicMemory:
    """A memory of 50 slots per task after both tasks: 50 from task 0, 25 + 5 from task 1."""
    memory = EpisodicMemory(50, generator(seed))
    for task in stream.tasks:
        memory.add_task(task)
    return memory


def class_counts(y: torch.Tensor) -> dict[int, int]:
    return {int(c): int(n) for c, n in zip(*np.unique(y.numpy(), return_counts=True))}


def test_quota_is_exact_per_class(stream):
    memory = EpisodicMemory(250, generator())
    memory.add_task(stream.tasks[0])
    assert len(memory) == 250 and memory.n_tasks == 1
    assert class_counts(memory.y) == {c: 25 for c in range(10)}


@pytest.mark.parametrize("size", [253, 259, 7])
def test_remainder_goes_to_some_classes(stream, size):
    memory = EpisodicMemory(size, generator(size))
    memory.add_task(stream.tasks[0])
    counts = list(class_counts(memory.y).values()) + [0] * (10 - len(class_counts(memory.y)))
    assert sum(counts) == size == len(memory)
    base = size // 10
    assert sorted(counts) == [base] * (10 - size % 10) + [base + 1] * (size % 10)


def test_per_class_quota_sums_to_size():
    for n_classes in range(1, 12):
        classes = list(range(100, 100 + n_classes))
        for size in range(1, 40):
            quota = per_class_quota(classes, size, generator(size))
            assert sorted(quota) == classes
            assert sum(quota.values()) == size
            assert max(quota.values()) - min(quota.values()) <= 1


def test_the_remainder_goes_to_randomly_chosen_classes():
    """A fixed choice (say the first classes) would favour some classes in every task's memory; a
    random one gives each class the extra slot about size % n / n of the time (3/10 here)."""
    classes = list(range(10))
    extra = {c: 0 for c in classes}
    for seed in range(400):
        quota = per_class_quota(classes, 23, generator(seed))
        for c in classes:
            extra[c] += quota[c] - 2
    # Binomial(400, 0.3) per class: mean 120, std 9.2; 4 std either side.
    assert all(83 <= n <= 157 for n in extra.values()), extra


def test_examples_are_distinct_training_examples(stream):
    memory = EpisodicMemory(250, generator(3))
    task = stream.tasks[0]
    memory.add_task(task)
    found = positions_of(task, memory.x, memory.y)
    assert len(set(found)) == 250  # without replacement
    first_of_class = {i for c in range(10) for i in np.flatnonzero(task.train_labels().numpy() == c)[:25]}
    assert set(found) != first_of_class  # a random sample, not the first examples of each class


def test_selection_is_uniform_within_each_class(stream):
    """Over many draws every training example is kept with probability quota / class size."""
    task, draws = stream.tasks[0], 200
    hits = np.zeros(task.n_train)
    g = generator(4)
    for _ in range(draws):
        memory = EpisodicMemory(250, g)
        memory.add_task(task)
        hits[positions_of(task, memory.x, memory.y)] += 1
    p = 25 / 40
    sigma = np.sqrt(p * (1 - p) / draws)
    assert np.all(np.abs(hits / draws - p) < 5 * sigma)


def test_uniform_fill_keeps_every_training_example_with_the_same_probability(stream):
    """``fill: uniform`` (Avalanche's A-GEM) draws size_per_task distinct examples of the whole
    training set, whatever their classes: each is kept with probability size / n_train."""
    task, draws, size = stream.tasks[0], 200, 100
    hits = np.zeros(task.n_train)
    g = generator(5)
    for _ in range(draws):
        memory = EpisodicMemory(size, g)
        memory.add_task(task, fill="uniform")
        found = positions_of(task, memory.x, memory.y)
        assert len(memory) == size and len(set(found)) == size
        hits[found] += 1
    p = size / task.n_train
    sigma = np.sqrt(p * (1 - p) / draws)
    assert np.all(np.abs(hits / draws - p) < 5 * sigma)


def test_small_class_keeps_all_its_examples(stream):
    memory = EpisodicMemory(50, generator())
    task = stream.tasks[1]
    memory.add_task(task)
    assert class_counts(memory.y) == {10: 25, 11: 5}
    found = positions_of(task, memory.x, memory.y)
    assert set(np.flatnonzero(task.train_labels().numpy() == 11)) <= set(found)
    assert len(set(found)) == 30


def test_task_ids_and_per_task_slices(stream):
    memory = filled(stream, 5)
    assert memory.n_tasks == 2 and len(memory) == 50 + 30
    assert memory.task_ids.tolist() == [0] * 50 + [1] * 30
    for task, (x, y, ids) in zip(stream.tasks, memory.per_task()):
        assert ids.tolist() == [task.index] * len(y)
        positions_of(task, x, y)  # each slice holds that task's own examples
    assert memory.nbytes == sum(t.numel() * t.element_size() for t in (memory.x, memory.y, memory.task_ids))


def test_sample_draws_without_replacement(stream):
    memory = filled(stream, 6)
    stored = {row.numpy().tobytes(): (int(y), int(k)) for row, y, k in zip(memory.x, memory.y, memory.task_ids)}
    batches = [memory.sample(16) for _ in range(20)]
    for x, y, ids in batches:
        assert len(y) == 16
        keys = [row.numpy().tobytes() for row in x]
        assert len(set(keys)) == 16
        assert [stored[key] for key in keys] == list(zip(y.tolist(), ids.tolist()))
    assert len({tuple(y.tolist()) for _, y, _ in batches}) > 1  # batches differ from draw to draw
    for batch_size in (80, 1000):  # the whole memory when it is not larger than the batch
        x, y, ids = memory.sample(batch_size)
        assert torch.equal(x, memory.x) and torch.equal(y, memory.y) and torch.equal(ids, memory.task_ids)


def test_task_balanced_sample_takes_an_equal_share_of_each_task_without_replacement(stream):
    memory = filled(stream, 5)  # task 0: 50 examples, task 1: 30
    stored = {row.numpy().tobytes(): (int(y), int(k)) for row, y, k in zip(memory.x, memory.y, memory.task_ids)}
    for batch_size, share in ((20, 10), (21, 10), (60, 30), (1, 1)):
        for _ in range(10):
            x, y, ids = memory.sample_task_balanced(batch_size)
            assert ids.tolist().count(0) == share and ids.tolist().count(1) == share, (batch_size, ids.tolist())
            keys = [row.numpy().tobytes() for row in x]
            assert len(set(keys)) == 2 * share  # no example twice
            assert [stored[key] for key in keys] == list(zip(y.tolist(), ids.tolist()))


def test_same_seed_same_memory(stream):
    def fill(seed):
        memory = filled(stream, seed)
        return memory.x, memory.sample(16)[0]

    a, b, c = fill(7), fill(7), fill(8)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_memory_size_must_be_positive():
    with pytest.raises(ValueError, match="memory_per_task must be at least 1, got 0"):
        EpisodicMemory(0, generator())
