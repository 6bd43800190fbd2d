"""HDF5 task streams: round trip of the digits benchmarks, hand-made streams, every format
error, atomic writes, and the task layouts' properties (paper §1–§2)."""

import itertools
import json
import math
import shutil

import h5py
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from agem.data.datasets import build_stream
from agem.data.datasets.tasks import split_tasks
from agem.data.stream_files import (
    STREAM_FORMAT_VERSION,
    StreamFormatError,
    TaskSpec,
    read_stream,
)
from agem.data.streams import load_stream
from helpers.streams import (
    PERMUTED_SPEC,
    SPLIT_SPEC,
    class_task,
    handmade_raw,
    write_handmade,
)


def test_permuted_stream_attributes_and_roles(stream_files):
    stream = read_stream(stream_files["permuted", 1])
    attrs = stream.attrs
    assert attrs["format_version"] == STREAM_FORMAT_VERSION == 1
    assert attrs["seed"] == 1 and attrs["layout"] == "permuted" and attrs["benchmark"] == "permuted_digits"
    assert attrs["n_tasks"] == 4 and attrs["n_cv_tasks"] == 1 and attrs["n_outputs"] == 10
    assert tuple(attrs["input_shape"]) == (64,) and attrs["pixel_scale"] == 16.0
    assert json.loads(attrs["params"]) == PERMUTED_SPEC
    assert [t.role for t in stream.tasks] == ["cv", "eval", "eval", "eval"]
    for task in stream.tasks:  # every task sees every image and every class (shared head)
        np.testing.assert_array_equal(task.classes, np.arange(10))
        np.testing.assert_array_equal(task.train_index, np.arange(len(stream.raw.train_y)))
        np.testing.assert_array_equal(task.test_index, np.arange(len(stream.raw.test_y)))


def test_permutations_are_distinct_true_permutations(stream_files):
    for seed in (1, 2):
        perms = [t.permutation for t in read_stream(stream_files["permuted", seed]).tasks]
        for perm in perms:
            assert sorted(perm.tolist()) == list(range(64))
            assert not np.array_equal(perm, np.arange(64))
        # CV permutations come from their own seed stream: none equals an evaluation one
        for a, b in itertools.combinations(perms, 2):
            assert not np.array_equal(a, b)


def test_same_seed_gives_identical_file(stream_files, tmp_path):
    again = tmp_path / "again.h5"
    build_stream("permuted_digits", PERMUTED_SPEC, 1, again)
    assert again.read_bytes() == stream_files["permuted", 1].read_bytes()


def test_different_seed_changes_permutations_and_class_order(stream_files):
    one, two = (read_stream(stream_files["permuted", s]) for s in (1, 2))
    for a, b in zip(one.tasks, two.tasks):
        assert not np.array_equal(a.permutation, b.permutation)
    one, two = (read_stream(stream_files["split", s]) for s in (1, 2))
    assert [t.classes.tolist() for t in one.tasks if t.role == "eval"] != [t.classes.tolist() for t in two.tasks if t.role == "eval"]


def test_split_layout_classes(stream_files):
    for seed in (1, 2):
        stream = read_stream(stream_files["split", seed])
        raw = stream.raw
        assert stream.attrs["layout"] == "split" and stream.attrs["n_outputs"] == 10
        assert [t.role for t in stream.tasks] == ["cv", "eval", "eval"]
        assert stream.tasks[0].classes.tolist() == [0, 1]  # CV: the first classes in label order
        seen = []
        for task in stream.tasks:
            assert len(task.classes) == 2 and task.permutation is None
            seen += task.classes.tolist()
            for index, labels in ((task.train_index, raw.train_y), (task.test_index, raw.test_y)):
                assert len(np.unique(index)) == len(index)
                assert set(labels[index].tolist()) == set(task.classes.tolist())
                assert len(index) == sum(int(np.sum(labels == c)) for c in task.classes)
        assert len(set(seen)) == len(seen)  # disjoint
        assert all(c >= 2 for c in seen[2:])  # evaluation classes never reuse the CV classes


def test_base_images_are_the_digits_split_stratified_and_shared_by_seeds(stream_files):
    raws = [read_stream(path).raw for path in stream_files.values()]
    for other in raws[1:]:  # the train/test split does not depend on the stream seed or layout
        for name in ("train_x", "train_y", "test_x", "test_y"):
            np.testing.assert_array_equal(getattr(other, name), getattr(raws[0], name))
    raw = raws[0]
    assert raw.train_x.dtype == np.uint8 and raw.train_x.max() == 16
    digits = load_digits()
    original = sorted(map(tuple, np.column_stack([digits.images.reshape(-1, 64), digits.target]).astype(int)))
    stored = np.column_stack([np.concatenate([raw.train_x, raw.test_x]), np.concatenate([raw.train_y, raw.test_y])])
    assert sorted(map(tuple, stored.astype(int))) == original
    assert len(raw.test_y) == 360
    for c in range(10):
        total = int(np.sum(digits.target == c))
        assert abs(int(np.sum(raw.test_y == c)) - 0.2 * total) <= 1


@pytest.mark.parametrize("layout", ["permuted", "split"])
def test_task_batches_are_scaled_and_permuted(stream_files, layout):
    raw = read_stream(stream_files[layout, 1]).raw
    stream = load_stream(stream_files[layout, 1])
    rng = np.random.default_rng(0)
    for task in stream.tasks:
        positions = rng.choice(task.n_train, size=25, replace=False)
        x, y = task.train_batch(torch.as_tensor(positions))
        rows = task.train_index.numpy()[positions]
        expected = raw.train_x[rows].astype(np.float32) / 16
        if layout == "permuted":
            perm = task.permutation.numpy()
            expected = np.stack([[image[perm[i]] for i in range(64)] for image in expected])
            assert not np.array_equal(x.numpy(), raw.train_x[rows] / 16)
        np.testing.assert_array_equal(x.numpy(), expected)
        np.testing.assert_array_equal(y.numpy(), raw.train_y[rows])
        assert x.dtype == torch.float32 and 0 <= float(x.min()) and float(x.max()) <= 1
        xs, ys = zip(*task.test_batches(batch_size=100))
        sizes = [len(b) for b in ys]
        assert sum(sizes) == task.n_test and all(size == 100 for size in sizes[:-1]) and 0 < sizes[-1] <= 100
        test_rows = task.test_index.numpy()
        np.testing.assert_array_equal(torch.cat(ys).numpy(), raw.test_y[test_rows])
        flat_test = raw.test_x[test_rows].astype(np.float32) / 16
        if layout == "permuted":
            flat_test = flat_test[:, task.permutation.numpy()]
        np.testing.assert_array_equal(torch.cat(xs).numpy(), flat_test)


# --- hand-made streams ------------------------------------------------------------------------
def test_handmade_stream_subtracts_mean_and_permutes_images(tmp_path):
    rng = np.random.default_rng(3)
    mean = rng.uniform(0, 1, size=(3, 2, 2)).astype(np.float32)
    raw = handmade_raw([0, 1, 2, 1, 0, 2], [2, 0, 1], (3, 2, 2), seed=3, mean=mean)
    perms = [rng.permutation(12) for _ in range(2)]
    tasks = [TaskSpec(role, np.arange(3), np.arange(6), np.arange(3), perm) for role, perm in zip(("cv", "eval"), perms)]
    path = write_handmade(tmp_path / "hand.h5", raw, tasks, "permuted", 3)

    read = read_stream(path)
    np.testing.assert_array_equal(read.raw.mean, mean)
    np.testing.assert_array_equal(read.raw.train_x, raw.train_x)
    assert read.input_shape == (3, 2, 2) and read.n_outputs == 3 and read.attrs["n_cv_tasks"] == 1
    stream = load_stream(path)
    for task, perm in zip(stream.tasks, perms):
        x, y = task.train_batch(torch.arange(6))
        assert x.shape == (6, 3, 2, 2)
        # by hand: scale, subtract the mean image, then move input i to perm's position
        for n in range(6):
            centred = (raw.train_x[n].astype(np.float64) / 255 - mean).reshape(12)
            np.testing.assert_allclose(x[n].numpy().reshape(12), [centred[perm[i]] for i in range(12)], rtol=0, atol=1e-6)
        np.testing.assert_array_equal(y.numpy(), raw.train_y)


def test_handmade_split_stream_applies_label_offset(tmp_path):
    raw = handmade_raw([0, 1, 0, 1, 2, 2], [0, 1, 2], (2, 2))
    tasks = [class_task("eval", [0, 1], raw), class_task("eval", [6, 7], raw, label_offset=6)]
    stream = load_stream(write_handmade(tmp_path / "offset.h5", raw, tasks, "split", 10))
    x, y = stream.tasks[1].train_batch(torch.arange(4))
    np.testing.assert_array_equal(y.numpy(), [6, 7, 6, 7])
    np.testing.assert_allclose(x.numpy(), raw.train_x[[0, 1, 2, 3]] / 255, atol=1e-7)
    assert stream.output_masks[1].tolist() == [i in (6, 7) for i in range(10)]


# --- format errors ----------------------------------------------------------------------------
def _replace(f, name, data):
    del f[name]
    f.create_dataset(name, data=data)


CORRUPTIONS = {
    "format_version": (lambda f: f.attrs.__setitem__("format_version", 2), r"format version 2, but this code reads version 1"),
    "missing_base": (lambda f: f.__delitem__("base/test_y"), r"missing dataset 'base/test_y'"),
    "label_range": (lambda f: f["base/train_y"].__setitem__(5, 10), r"'base/train_y' has labels outside 0\.\.9"),
    "negative_label": (lambda f: f["base/test_y"].__setitem__(0, -1), r"'base/test_y' has labels outside 0\.\.9"),
    "shape_mismatch": (lambda f: _replace(f, "base/train_y", f["base/train_y"][:-1]), r"'base/train_y' has shape \(1436,\), expected \(1437,\)"),
    "image_shape": (lambda f: _replace(f, "base/test_x", f["base/test_x"][:, :63]), r"'base/test_x' has shape \(360, 63\)"),
    "index_range": (lambda f: f["tasks/001/train_index"].__setitem__(3, 1437), r"task 1 'train_index' must be a non-empty 1-D index into 1437"),
    "negative_index": (lambda f: f["tasks/002/test_index"].__setitem__(0, -1), r"task 2 'test_index' must be a non-empty 1-D index into 360"),
    "bad_permutation": (lambda f: f["tasks/002/permutation"].__setitem__(0, f["tasks/002/permutation"][1]), r"task 2 'permutation' is not a permutation of 64"),
    "missing_permutation": (lambda f: f.__delitem__("tasks/003/permutation"), r"task 3 of a permuted stream lacks its 'permutation'"),
    "missing_task": (lambda f: f.__delitem__("tasks/003"), r"expected 4 task groups"),
    "classes_range": (lambda f: f["tasks/000"].attrs.__setitem__("classes", np.arange(11)), r"task 0 classes .* not within the 10 outputs"),
    "role": (lambda f: f["tasks/001"].attrs.__setitem__("role", "train"), r"task 1 has role 'train'"),
    "role_order": (lambda f: f["tasks/000"].attrs.__setitem__("role", "eval") or f["tasks/001"].attrs.__setitem__("role", "cv"), r"CV tasks must come before"),
    "n_cv_tasks": (lambda f: f.attrs.__setitem__("n_cv_tasks", 2), r"n_cv_tasks does not match"),
    "layout": (lambda f: f.attrs.__setitem__("layout", "shuffled"), r"layout 'shuffled' is not one of"),
}


@pytest.mark.parametrize("problem", sorted(CORRUPTIONS))
def test_corrupt_stream_is_rejected_with_its_problem(stream_files, tmp_path, problem):
    edit, message = CORRUPTIONS[problem]
    path = tmp_path / "corrupt.h5"
    shutil.copyfile(stream_files["permuted", 1], path)
    with h5py.File(path, "r+") as f:
        edit(f)
    with pytest.raises(StreamFormatError, match=message):
        read_stream(path)
    with pytest.raises(StreamFormatError, match="rebuild it with the 'build_stream' rule"):
        load_stream(path)


def test_garbage_file_is_rejected(tmp_path):
    path = tmp_path / "garbage.h5"
    path.write_bytes(b"this is not HDF5\n" * 100)
    with pytest.raises(StreamFormatError, match=r"not a readable HDF5 file"):
        read_stream(path)


def test_missing_file_is_rejected(tmp_path):
    with pytest.raises(StreamFormatError, match=r"does not exist; build it with the 'build_stream' rule"):
        read_stream(tmp_path / "nowhere.h5")


def test_unknown_layout_is_not_written(tmp_path):
    raw = handmade_raw([0, 1], [0], (2,))
    with pytest.raises(StreamFormatError, match=r"layout must be one of"):
        write_handmade(tmp_path / "x.h5", raw, [class_task("eval", [0, 1], raw)], "rotated", 2)
    assert list(tmp_path.iterdir()) == []


# --- atomic writes ----------------------------------------------------------------------------
@pytest.mark.parametrize("existing", [False, True])
def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch, existing):
    path = tmp_path / "stream.h5"
    raw = handmade_raw([0, 1, 0, 1], [0, 1], (2, 2))
    tasks = [class_task("eval", [0, 1], raw)]
    if existing:
        write_handmade(path, raw, tasks, "split", 2)
        old = path.read_bytes()

    original = h5py.Group.create_group

    def failing_create_group(self, name, *args, **kwargs):
        if name == "tasks":  # the base images are already written by then
            raise OSError("disk full (simulated)")
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_group", failing_create_group)
    other = handmade_raw([1, 0, 1, 0], [1, 0], (2, 2), seed=9)
    with pytest.raises(OSError, match="simulated"):
        write_handmade(path, other, [class_task("eval", [0, 1], other)], "split", 2, seed=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["stream.h5"] if existing else [])
    if existing:
        assert path.read_bytes() == old
        monkeypatch.undo()
        assert read_stream(path).attrs["seed"] == 0


# --- task layouts -----------------------------------------------------------------------------
def test_split_tasks_rejects_too_many_classes():
    labels = np.repeat(np.arange(10), 3)
    with pytest.raises(ValueError, match=r"4 tasks × 3 classes need 12 classes, the data has 10"):
        split_tasks(labels, labels, classes_per_task=3, n_tasks=4, n_cv_tasks=1, seed=0)
    with pytest.raises(ValueError, match=r"need 12 classes, the data has 10"):
        build_stream("split_digits", {**SPLIT_SPEC, "n_tasks": 6}, 1, "/nonexistent/never-written.h5")


def test_split_tasks_without_cv_uses_seeded_shuffle():
    labels = np.repeat(np.arange(10), 2)
    orders = {tuple(tuple(t.classes) for t in split_tasks(labels, labels, 2, 5, 0, seed)) for seed in range(5)}
    assert len(orders) > 1
    for order in orders:
        assert sorted(c for task in order for c in task) == list(range(10))


@pytest.mark.parametrize("mean, std", [(None, None), (0.1307, 0.3081), ("per-pixel", "per-pixel")])
def test_permuted_batches_are_normalised_then_permuted_pixels(stream_files, mean, std):
    """The bytes are permuted before normalising when every pixel is normalised alike (faster);
    the floats must be exactly those of normalising first and permuting after."""
    stream = load_stream(stream_files["permuted", 1])
    n_pixels = math.prod(stream.input_shape)
    generator = torch.Generator().manual_seed(0)
    if mean == "per-pixel":
        stream.mean = torch.rand(stream.input_shape, generator=generator)
        stream.std = 0.5 + torch.rand(stream.input_shape, generator=generator)
    else:
        stream.mean = None if mean is None else torch.tensor(mean)
        stream.std = None if std is None else torch.tensor(std)
    task = stream.tasks[1]
    positions = torch.tensor([4, 0, 7, 3])
    x, y = task.train_batch(positions)
    images = stream.base_x["train"][task.train_index[positions]].float() / stream.pixel_scale
    if stream.mean is not None:
        images = (images - stream.mean) / stream.std
    expected = images.reshape(len(positions), n_pixels)[:, task.permutation].reshape(x.shape)
    assert torch.equal(x, expected)
    assert torch.equal(y, stream.base_y["train"][task.train_index[positions]] + task.label_offset)
