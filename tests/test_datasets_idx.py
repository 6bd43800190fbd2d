"""MNIST-format data: the IDX parser, Permuted MNIST's preprocessing (train[5000:], [0, 1],
permutations per seed), bring-your-own IDX files, and the full Fashion-MNIST from Debian's
package (the real-data test of this code path)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from agem.data.datasets import build_images, build_stream
from agem.data.datasets.idx import (
    DEBIAN_FASHION_MNIST,
    FASHION_MNIST_FILES,
    IMAGES_MAGIC,
    LABELS_MAGIC,
    read_idx,
)
from agem.data.datasets.raw import RawDataError
from agem.data.stream_files import read_stream
from agem.data.streams import load_stream
from agem.pipeline.config import ConfigError, check_config
from helpers.configs import validated_default_config
from helpers.miniature_data import idx_bytes, write_idx, write_mnist_folder

PERMUTED = {"layout": "permuted", "n_tasks": 5, "n_cv_tasks": 2}


def build(tmp_path: Path, source: str, options: dict, seeds=(1, 2), **spec_keys) -> dict[int, Path]:
    images = tmp_path / "images" / f"{source}.h5"
    build_images(source, options, images, raw_dir=tmp_path / "raw")
    spec = {"source": source, "source_options": options, **PERMUTED, **spec_keys}
    out = {}
    for seed in seeds:
        out[seed] = tmp_path / "streams" / f"seed{seed}.h5"
        build_stream(f"permuted_{source}", spec, seed, out[seed], images=images)
    return out


def test_idx_header_and_data_round_trip(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    assert idx_bytes(images, IMAGES_MAGIC)[:16] == bytes.fromhex("00000803 00000002 0000001c 0000001c")
    for gz in (True, False):
        path = write_idx(tmp_path / f"x{gz}", images, IMAGES_MAGIC, gz=gz)
        np.testing.assert_array_equal(read_idx(path, IMAGES_MAGIC), images)
    labels = write_idx(tmp_path / "y", np.array([2, 0, 1, 1]), LABELS_MAGIC)
    np.testing.assert_array_equal(read_idx(labels, LABELS_MAGIC), [2, 0, 1, 1])


def test_idx_errors_name_the_file(tmp_path):
    labels = write_idx(tmp_path / "labels.gz", np.array([1, 2]), LABELS_MAGIC)
    with pytest.raises(RawDataError, match=rf"{labels}: not an IDX file of the expected kind: magic number 0x00000801, expected 0x00000803"):
        read_idx(labels, IMAGES_MAGIC)
    short = tmp_path / "short"
    short.write_bytes(idx_bytes(np.zeros((3, 28, 28)), IMAGES_MAGIC)[:-5])
    with pytest.raises(RawDataError, match=rf"{short}: IDX header declares shape \(3, 28, 28\)"):
        read_idx(short, IMAGES_MAGIC)
    broken = tmp_path / "broken.gz"
    broken.write_bytes(labels.read_bytes()[:12])
    with pytest.raises(RawDataError, match=rf"{broken}: corrupt gzip data"):
        read_idx(broken, LABELS_MAGIC)
    with pytest.raises(RawDataError, match="IDX file .*nowhere does not exist"):
        read_idx(tmp_path / "nowhere", LABELS_MAGIC)


def test_permuted_mnist_stream(tmp_path):
    paths = write_mnist_folder(tmp_path / "raw", n_train=60, n_test=20)
    streams = build(tmp_path, "mnist", {"held_out": 10})
    originals = read_idx(paths["train_images"], IMAGES_MAGIC).reshape(60, 784)
    one, two = (read_stream(streams[s]) for s in (1, 2))
    assert one.input_shape == (784,) and one.n_outputs == 10 and one.attrs["pixel_scale"] == 255.0
    # train[held_out:]: the first 10 training images are the TF loader's validation set
    np.testing.assert_array_equal(one.raw.train_x, originals[10:])
    assert len(one.raw.test_y) == 20 and [t.role for t in one.tasks] == ["cv", "cv", "eval", "eval", "eval"]
    perms = [t.permutation for t in one.tasks] + [t.permutation for t in two.tasks]
    assert len({p.tobytes() for p in perms}) == len(perms)  # per task, per seed, CV apart from evaluation
    stream = load_stream(streams[1])
    task = stream.tasks[2]
    x, y = task.train_batch(torch.arange(3))
    expected = torch.tensor(originals[10:13], dtype=torch.float32)[:, torch.as_tensor(task.permutation)] / 255
    torch.testing.assert_close(x, expected)
    assert float(x.min()) >= 0 and float(x.max()) <= 1 and y.tolist() == (np.arange(10, 13) % 10).tolist()


def test_held_out_is_checked(tmp_path):
    write_mnist_folder(tmp_path / "raw", n_train=20)
    with pytest.raises(ValueError, match=r"held_out must be in 0..19 \(the training set has 20 images\), got 5000"):
        build_images("mnist", {}, tmp_path / "images.h5", raw_dir=tmp_path / "raw")
    assert not (tmp_path / "images.h5").exists()


def test_bring_your_own_idx_files(tmp_path):
    names = {"train_images": "kmnist-train-imgs", "train_labels": "kmnist-train-labels",
             "test_images": "kmnist-test-imgs.gz", "test_labels": "kmnist-test-labels.gz"}
    paths = write_mnist_folder(tmp_path / "mine", n_train=30, n_test=10, gz=False, names=names)
    options = {key: str(path) for key, path in paths.items()}
    streams = build(tmp_path, "idx", options, seeds=(1,))
    stream = read_stream(streams[1])
    assert stream.raw.train_x.shape == (30, 784) and stream.n_outputs == 10 and stream.attrs["layout"] == "permuted"
    assert stream.attrs["source"] == f"idx:{tmp_path / 'mine'}" and len(stream.attrs["source_sha256"]) == 64


def test_mismatched_idx_files_are_an_error(tmp_path):
    paths = write_mnist_folder(tmp_path / "mine", n_train=30, n_test=10)
    write_idx(paths["test_labels"], np.arange(9) % 10, LABELS_MAGIC)
    options = {key: str(path) for key, path in paths.items()}
    with pytest.raises(RawDataError, match=r"t10k-images-idx3-ubyte.gz holds 10 images but .*t10k-labels-idx1-ubyte.gz 9 labels"):
        build_images("idx", options, tmp_path / "images.h5")
    assert not (tmp_path / "images.h5").exists()


DEBIAN_FILES = [DEBIAN_FASHION_MNIST / name for name in FASHION_MNIST_FILES.values()]


@pytest.mark.slow
@pytest.mark.skipif(
    not all(p.is_file() for p in DEBIAN_FILES),
    reason=f"Fashion-MNIST not installed: `apt-get install dataset-fashion-mnist` provides {DEBIAN_FASHION_MNIST}/ (.ci/run does)",
)
def test_full_fashion_mnist_stream_from_debian(tmp_path):
    """The real, full-size IDX files through the whole MNIST code path: image file and a 20-task stream."""
    started = time.perf_counter()
    images = tmp_path / "fashion.h5"
    build_images("fashion_mnist", {}, images)
    spec = {"source": "fashion_mnist", "source_options": {}, "layout": "permuted", "n_tasks": 20, "n_cv_tasks": 3}
    build_stream("permuted_fashion_mnist", spec, 1234, tmp_path / "seed1234.h5", images=images)
    seconds = time.perf_counter() - started
    stream = load_stream(tmp_path / "seed1234.h5")
    assert stream.input_shape == (784,) and stream.n_outputs == 10 and len(stream.tasks) == 20
    assert stream.tasks[0].n_train == 60_000 and stream.tasks[0].n_test == 10_000
    labels = stream.base_y["train"]
    assert torch.bincount(labels).tolist() == [6000] * 10  # Fashion-MNIST is balanced
    x, _ = stream.tasks[5].train_batch(torch.arange(256))
    assert x.shape == (256, 784) and 0 <= float(x.min()) and float(x.max()) <= 1
    size_mb = (images.stat().st_size + (tmp_path / "seed1234.h5").stat().st_size) / 1e6
    print(f"\nFashion-MNIST: image file + stream {size_mb:.1f} MB, built in {seconds:.2f}s")
    assert seconds < 120


def test_a_stray_label_is_refused_naming_file_value_and_position(tmp_path):
    """A label of 200 in a 10-class file once made 201 classes, 191 empty: the config check then
    advised 'memory_per_task <= 0' and the stream had 201 outputs."""
    paths = write_mnist_folder(tmp_path / "mine", n_train=30, n_test=10)
    labels = np.arange(30) % 10
    labels[17] = 200
    write_idx(paths["train_labels"], labels, LABELS_MAGIC)
    options = {key: str(path) for key, path in paths.items()}
    expected = rf"{paths['train_labels']}: label 200 at position 17 \(counting from 0\) skips the class\(es\) 10\.\.199"
    with pytest.raises(RawDataError, match=expected):
        build_images("idx", options, tmp_path / "images.h5")
    assert not (tmp_path / "images.h5").exists()
    # The config check reads the same file for the class count; it names the file, not the memory.
    config = validated_default_config()
    config["datasets"] = ["mine"]
    config["benchmarks"]["mine"] = {**config["benchmarks"]["permuted_digits"], "source": "idx", "source_options": options}
    config["hparams"]["mine"] = config["hparams"]["permuted_digits"]
    with pytest.raises(ConfigError, match=rf"^benchmarks\.mine\.source_options: {expected}"):
        check_config(config, jobs_run_here=False)


def test_a_gap_in_the_class_numbers_names_the_first_label_above_it(tmp_path):
    # No label 6: the smallest label above the gap, 7, first at position 7, is named (not the 9 before it).
    labels = write_idx(tmp_path / "labels", np.array([0, 1, 3, 2, 5, 4, 9, 7, 8, 7]), LABELS_MAGIC)
    with pytest.raises(RawDataError, match=r"label 7 at position 7 \(counting from 0\) skips the class\(es\) 6\.\.6"):
        read_idx(labels, LABELS_MAGIC)


def test_a_test_label_outside_the_training_classes_is_refused(tmp_path):
    paths = write_mnist_folder(tmp_path / "mine", n_train=30, n_test=10)
    write_idx(paths["test_labels"], np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 10]), LABELS_MAGIC)
    options = {key: str(path) for key, path in paths.items()}
    with pytest.raises(RawDataError, match=rf"{paths['test_labels']}: label 10 at position 9 \(counting from 0\) is not a class of the training labels "
                                           rf"{paths['train_labels']} \(0\.\.9\)"):
        build_images("idx", options, tmp_path / "images.h5")
    # a test set lacking a class is allowed (a small bring-your-own test set may)
    write_idx(paths["test_labels"], np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 8]), LABELS_MAGIC)
    build_images("idx", options, tmp_path / "images.h5")


def test_test_images_of_another_size_are_refused_when_the_images_are_built(tmp_path):
    """32×32 test images beside 28×28 training images once failed only at train time."""
    paths = write_mnist_folder(tmp_path / "mine", n_train=30, n_test=10)
    write_idx(paths["test_images"], np.zeros((10, 32, 32)), IMAGES_MAGIC)
    options = {key: str(path) for key, path in paths.items()}
    with pytest.raises(RawDataError, match=rf"^{paths['test_images']} holds images of 32×32 pixels but {paths['train_images']} of 28×28; "):
        build_images("idx", options, tmp_path / "images.h5")
    assert not (tmp_path / "images.h5").exists()
