"""Split CUB and Split AWA from miniatures of CUB_200_2011.tgz and AwA2-data.zip: the official
CUB split, resizing without cropping, ImageNet normalisation, attributes, CV classes, AWA's
classes recurring across tasks with disjoint per-appearance chunks and 850 outputs, images read
from disk batch by batch, and a training run with the joint-embedding head (paper §2, §5)."""

from __future__ import annotations

import io
import tarfile
import zipfile

import numpy as np
import pytest
import torch

from agem.data.datasets import build_images, build_stream
from agem.data.datasets.archives import IMAGENET_MEAN, IMAGENET_STD, decode_image
from agem.data.datasets.raw import RawDataError
from agem.data.stream_files import DiskImages, read_stream
from agem.data.streams import load_stream
from agem.training.loop import train_run
from agem.training.settings import TrainSettings
from helpers.miniature_data import write_awa2_archive, write_cub_archive

CUB_SPEC = {"source": "cub", "layout": "split", "n_tasks": 5, "n_cv_tasks": 3, "classes_per_task": 10}
AWA_SPEC = {"source": "awa2", "layout": "split", "n_tasks": 20, "n_cv_tasks": 3, "classes_per_task": 5,
            "class_sampling": "with_replacement", "balanced_accuracy": True}
SMALL = {"image_size": 32}


def build(root, source, writer, spec, options, seeds=(1, 2)):
    archive = writer(root / "raw")
    images = root / "images.h5"
    build_images(source, options, images, raw_dir=root / "raw")
    streams = {}
    for seed in seeds:
        streams[seed] = root / f"seed{seed}.h5"
        build_stream(f"split_{source}", {**spec, "source_options": options}, seed, streams[seed], images=images)
    return archive, streams


@pytest.fixture(scope="module")
def cub(tmp_path_factory):
    return build(tmp_path_factory.mktemp("cub"), "cub", write_cub_archive, CUB_SPEC, SMALL)


@pytest.fixture(scope="module")
def awa(tmp_path_factory):
    return build(tmp_path_factory.mktemp("awa"), "awa2", write_awa2_archive, AWA_SPEC, SMALL)


def read_text(archive, name) -> str:
    with tarfile.open(archive) as tar:
        return tar.extractfile(name).read().decode()


# --- CUB -------------------------------------------------------------------------------------------------
def test_cub_official_split_labels_and_attributes(cub):
    archive, streams = cub
    raw = read_stream(streams[1], images_on_disk=False).raw
    split = dict(line.split() for line in read_text(archive, "CUB_200_2011/train_test_split.txt").splitlines())
    labels = dict(line.split() for line in read_text(archive, "CUB_200_2011/image_class_labels.txt").splitlines())
    train_ids = sorted((i for i in split if split[i] == "1"), key=int)
    test_ids = sorted((i for i in split if split[i] == "0"), key=int)
    assert raw.train_y.tolist() == [int(labels[i]) - 1 for i in train_ids]
    assert raw.test_y.tolist() == [int(labels[i]) - 1 for i in test_ids]
    assert raw.train_x.shape == (100, 3, 32, 32) and raw.test_x.shape == (50, 3, 32, 32)
    # image 1 is greyscale: decoded to three equal channels
    np.testing.assert_array_equal(raw.train_x[0, 0], raw.train_x[0, 2])
    published = np.loadtxt(io.StringIO(read_text(archive, "CUB_200_2011/attributes/class_attribute_labels_continuous.txt")))
    assert raw.attributes.shape == (50, 312)
    np.testing.assert_allclose(raw.attributes, published / np.linalg.norm(published, axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(raw.mean[:, 0, 0], IMAGENET_MEAN, rtol=1e-6)
    np.testing.assert_allclose(raw.std[:, 0, 0], IMAGENET_STD, rtol=1e-6)


def test_cub_cv_classes_and_class_order_per_seed(cub):
    _, streams = cub
    orders = []
    for path in streams.values():
        tasks = read_stream(path).tasks
        assert [t.classes.tolist() for t in tasks[:3]] == [list(range(0, 10)), list(range(10, 20)), list(range(20, 30))]
        evaluation = [t.classes.tolist() for t in tasks[3:]]
        assert sorted(sum(evaluation, [])) == list(range(30, 50))
        orders.append(evaluation)
    assert orders[0] != orders[1]


def test_cub_batches_come_from_disk_normalised(cub):
    archive, streams = cub
    stream = load_stream(streams[1])
    assert stream.images_on_disk and isinstance(stream.base_x["train"], DiskImages)
    task = stream.tasks[3]
    positions = torch.tensor([3, 0, 3])  # any order, repeats allowed
    x, y = task.train_batch(positions)
    rows = task.train_index[positions].numpy()
    paths = dict(line.split() for line in read_text(archive, "CUB_200_2011/images.txt").splitlines())
    train_ids = [i for i, s in (line.split() for line in read_text(archive, "CUB_200_2011/train_test_split.txt").splitlines()) if s == "1"]
    with tarfile.open(archive) as tar:
        decoded = [decode_image(tar.extractfile(f"CUB_200_2011/images/{paths[train_ids[r]]}").read(), 32) for r in rows]
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    expected = (torch.tensor(np.stack(decoded), dtype=torch.float32) / 255 - mean) / std
    torch.testing.assert_close(x, expected)
    assert y.tolist() == stream.base_y["train"][task.train_index[positions]].tolist()
    sizes = [len(b[0]) for b in task.test_batches(batch_size=4)]
    assert sum(sizes) == task.n_test and stream.class_attributes.shape == (50, 312)


def test_cub_at_224(tmp_path):
    archive = write_cub_archive(tmp_path / "raw", n_classes=4, train_per_class=1, test_per_class=1, n_attributes=312)
    build_images("cub", {}, tmp_path / "images.h5", raw_dir=tmp_path / "raw")
    build_stream("split_cub", {**CUB_SPEC, "n_tasks": 2, "n_cv_tasks": 0, "classes_per_task": 2}, 1, tmp_path / "s.h5", images=tmp_path / "images.h5")
    stream = load_stream(tmp_path / "s.h5")
    x, _ = stream.tasks[0].train_batch(torch.arange(2))
    assert stream.input_shape == (3, 224, 224) and x.shape == (2, 3, 224, 224) and archive.exists()


def test_cub_image_missing_from_archive_leaves_no_image_file(tmp_path):
    archive = write_cub_archive(tmp_path / "raw", n_classes=2, train_per_class=1, test_per_class=1)
    with tarfile.open(archive) as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]
    with tarfile.open(archive, "w:gz") as tar:
        for member, data in members:
            if not member.name.endswith("Bird_2_0001.jpg"):
                tar.addfile(member, io.BytesIO(data))
    out = tmp_path / "images" / "cub.h5"
    with pytest.raises(RawDataError, match=r"CUB_200_2011.tgz: missing file\(s\) in the archive: CUB_200_2011/images/002.Bird_2/Bird_2_0001.jpg"):
        build_images("cub", SMALL, out, raw_dir=tmp_path / "raw")
    assert list(out.parent.iterdir()) == []  # the temporary file was removed


def test_undecodable_image_names_it(tmp_path):
    archive = write_awa2_archive(tmp_path / "raw", n_classes=2, per_class=8)
    with zipfile.ZipFile(archive, "a") as z:
        z.writestr("Animals_with_Attributes2/JPEGImages/animal+0/animal+0_10000.jpg", b"not a jpeg")
    with pytest.raises(RawDataError, match=r"image 'AwA2-data.zip:Animals_with_Attributes2/JPEGImages/animal\+0/animal\+0_10000.jpg' could not be decoded"):
        build_images("awa2", SMALL, tmp_path / "images.h5", raw_dir=tmp_path / "raw")
    assert not (tmp_path / "images.h5").exists()


# --- AWA -------------------------------------------------------------------------------------------------------
def test_awa_file_name_split_labels_and_attributes(awa):
    archive, streams = awa
    raw = read_stream(streams[1], images_on_disk=False).raw
    # 12 images per class: the first round(12 × 0.7) = 8 train, the last round(12 × 0.15) = 2 test
    assert np.bincount(raw.train_y).tolist() == [8] * 50 and np.bincount(raw.test_y).tolist() == [2] * 50
    assert raw.train_x.shape == (400, 3, 32, 32)
    with zipfile.ZipFile(archive) as z:
        first = decode_image(z.read("Animals_with_Attributes2/JPEGImages/animal+0/animal+0_10001.jpg"), 32)
        last = decode_image(z.read("Animals_with_Attributes2/JPEGImages/animal+0/animal+0_10012.jpg"), 32)
        published = np.loadtxt(io.StringIO(z.read("Animals_with_Attributes2/predicate-matrix-continuous.txt").decode()))
    np.testing.assert_array_equal(raw.train_x[0], first)
    np.testing.assert_array_equal(raw.test_x[1], last)
    assert raw.attributes.shape == (50, 85) and raw.attributes[0, 0] < 0  # -1 (missing) kept, as published
    np.testing.assert_allclose(np.linalg.norm(raw.attributes, axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(raw.attributes, published / np.linalg.norm(published, axis=1, keepdims=True), rtol=1e-5)
    assert raw.std is None  # AWA: ImageNet mean only (from scratch, like the paper)


def test_awa_recurring_classes_chunks_and_outputs(awa):
    _, streams = awa
    for path in streams.values():
        stream = read_stream(path)
        raw, tasks = stream.raw, stream.tasks
        assert stream.n_outputs == 850 and bool(stream.attrs["balanced_accuracy"]) and bool(stream.attrs["images_on_disk"])
        for role in ("cv", "eval"):
            for k, task in enumerate(t for t in tasks if t.role == role):
                assert task.label_offset == 50 * k
                base = task.classes - task.label_offset
                assert len(set(base.tolist())) == 5 and set(raw.train_y[task.train_index].tolist()) == set(base.tolist())
                np.testing.assert_array_equal(np.sort(task.test_index), np.flatnonzero(np.isin(raw.test_y, base)))
        assert [sorted((t.classes - t.label_offset).tolist()) for t in tasks[:3]] == [list(range(5 * k, 5 * k + 5)) for k in range(3)]
        chunks: dict[int, list[np.ndarray]] = {}
        for task in tasks[3:]:
            assert all(15 <= c - task.label_offset < 50 for c in task.classes)
            for c in (task.classes - task.label_offset).tolist():
                chunks.setdefault(c, []).append(task.train_index[raw.train_y[task.train_index] == c])
        assert any(len(v) > 1 for v in chunks.values())  # some class recurs
        for c, parts in chunks.items():
            joined = np.concatenate(parts)
            assert len(np.unique(joined)) == len(joined)  # disjoint per-appearance chunks
            np.testing.assert_array_equal(np.sort(joined), np.flatnonzero(raw.train_y == c))  # each image seen once
            assert max(map(len, parts)) - min(map(len, parts)) <= 1  # equal chunks


def test_awa_class_attributes_follow_the_output_blocks(awa):
    _, streams = awa
    stream = load_stream(streams[1])
    raw = read_stream(streams[1]).raw
    for task in stream.tasks:
        for c in task.classes.tolist():
            torch.testing.assert_close(stream.class_attributes[c], torch.tensor(raw.attributes[c - task.label_offset]))


def test_joint_embedding_training_run_on_awa(awa):
    """The whole path: images from disk, 850 outputs, JE head on the stream's attributes, balanced accuracy."""
    _, streams = awa
    stream = load_stream(streams[1])
    network = {"type": "reduced_resnet18", "nf": 4, "head": "joint_embedding"}
    record = train_run(stream, "van", {"lr": 0.01}, network, 10, TrainSettings(lca_batches=1, eval_batch_size=64), seed=1, log=lambda _: None)
    assert record.acc_final.shape == (17, 17) and np.all(np.isfinite(np.diag(record.acc_final)))
    assert np.all((0 <= np.diag(record.acc_final)) & (np.diag(record.acc_final) <= 1))
