"""Split CIFAR from a miniature of the original python-version archive: pickles parsed, pixels
/255 minus the training-set mean image, CV classes 0–14, evaluation classes a per-seed shuffle
of 15–99, CV and evaluation disjoint (paper §1–2)."""

from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

from agem.data.datasets import build_images, build_stream
from agem.data.datasets.raw import RawDataError
from agem.data.stream_files import read_image_file, read_stream
from agem.data.streams import load_stream
from helpers.miniature_data import write_cifar100_archive

SPEC = {"source": "cifar100", "source_options": {}, "layout": "split", "n_tasks": 20, "n_cv_tasks": 3, "classes_per_task": 5}


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    """The miniature archive, its image file and the streams of seeds 1 and 2."""
    root = tmp_path_factory.mktemp("cifar")
    archive = write_cifar100_archive(root / "raw")
    images = root / "images.h5"
    build_images("cifar100", {}, images, raw_dir=root / "raw")
    streams = {}
    for seed in (1, 2):
        streams[seed] = root / f"seed{seed}.h5"
        build_stream("split_cifar", SPEC, seed, streams[seed], images=images)
    return archive, images, streams


def archive_arrays(archive, split):
    with tarfile.open(archive) as tar:
        batch = pickle.load(io.BytesIO(tar.extractfile(f"cifar-100-python/{split}").read()), encoding="bytes")
    return batch[b"data"].reshape(-1, 3, 32, 32), np.asarray(batch[b"fine_labels"])


def test_images_labels_and_mean_image(cifar):
    archive, images, streams = cifar
    raw = read_stream(streams[1]).raw
    for split in ("train", "test"):
        x, y = archive_arrays(archive, split)
        np.testing.assert_array_equal(getattr(raw, f"{split}_x"), x)
        np.testing.assert_array_equal(getattr(raw, f"{split}_y"), y)
    train_x, _ = archive_arrays(archive, "train")
    np.testing.assert_allclose(raw.mean, train_x.mean(axis=0) / 255, rtol=1e-6)
    assert raw.mean.shape == (3, 32, 32) and raw.std is None and raw.attributes is None


def test_inputs_are_scaled_and_mean_subtracted(cifar):
    archive, _, streams = cifar
    stream = load_stream(streams[1])
    assert not stream.images_on_disk and stream.input_shape == (3, 32, 32) and stream.n_outputs == 100
    task = stream.tasks[4]
    x, y = task.train_batch(torch.arange(4))
    rows = task.train_index[:4].numpy()
    train_x, train_y = archive_arrays(archive, "train")
    expected = torch.tensor(train_x[rows], dtype=torch.float32) / 255 - torch.tensor(train_x.mean(axis=0) / 255, dtype=torch.float32)
    torch.testing.assert_close(x, expected, atol=1e-5, rtol=0)
    assert y.tolist() == train_y[rows].tolist()
    # over the whole training set the normalised inputs average to zero
    assert abs(float(stream.normalise(stream.base_x["train"]).mean())) < 1e-5


def test_class_order_per_seed_and_cv_eval_disjoint(cifar):
    _, _, streams = cifar
    orders = {}
    for seed, path in streams.items():
        tasks = read_stream(path).tasks
        cv = [t.classes.tolist() for t in tasks if t.role == "cv"]
        ev = [t.classes.tolist() for t in tasks if t.role == "eval"]
        assert cv == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14]]
        assert len(ev) == 17 and sorted(sum(ev, [])) == list(range(15, 100))
        assert all(len(t.train_index) == 5 * 4 and len(t.test_index) == 5 * 2 for t in tasks)
        orders[seed] = ev
    assert orders[1] != orders[2]


def test_image_file_is_shared_not_copied(cifar):
    _, images, streams = cifar
    assert read_image_file(images).train_x.shape == (400, 3, 32, 32)
    for path in streams.values():
        assert path.stat().st_size < images.stat().st_size / 4


def test_missing_image_file_is_an_error_naming_it(cifar, tmp_path):
    _, images, _ = cifar
    copy = tmp_path / "images.h5"
    copy.write_bytes(images.read_bytes())
    build_stream("split_cifar", SPEC, 1, tmp_path / "s.h5", images=copy)
    copy.unlink()
    with pytest.raises(ValueError, match=r"'base/train_x' links to images.h5 .* which does not exist"):
        read_stream(tmp_path / "s.h5")


def test_not_a_cifar_pickle(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    with tarfile.open(folder / "cifar-100-python.tar.gz", "w:gz") as tar:
        for name in ("train", "test"):
            data = pickle.dumps(print)  # a pickle that would call code
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(RawDataError, match=r"cifar-100-python/train: not a CIFAR python pickle \(UnpicklingError: refusing to load builtins.print\)"):
        build_images("cifar100", {}, tmp_path / "images.h5", raw_dir=folder)
