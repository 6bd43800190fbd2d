"""Miniature copies of the paper's raw datasets, written in their real formats.

Each writer produces what the original download holds, with fewer and smaller images: IDX gz
files (MNIST), the CIFAR-100 python pickles in a tar.gz, CUB_200_2011.tgz with its text files
and JPEGs, AwA2-data.zip with its class folders. The library's real parsers then run on them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from agem.data.datasets.idx import IMAGES_MAGIC, LABELS_MAGIC


def sha256_of(path: Path) -> str:
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- IDX (MNIST, Fashion-MNIST, …) ---------------------------------------------------------------
def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """IDX: magic number, one big-endian uint32 per dimension, then the uint8 data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    assert array.ndim == magic & 0xFF
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray, magic: int, gz: bool = True) -> Path:
    data = idx_bytes(array, magic)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_mnist_folder(folder: Path, n_train: int = 60, n_test: int = 20, seed: int = 0, gz: bool = True, names: dict | None = None) -> dict[str, Path]:
    """Four MNIST-named IDX files of random 28×28 digits with labels 0..9 (every class present)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    names = names or {
        "train_images": f"train-images-idx3-ubyte{suffix}", "train_labels": f"train-labels-idx1-ubyte{suffix}",
        "test_images": f"t10k-images-idx3-ubyte{suffix}", "test_labels": f"t10k-labels-idx1-ubyte{suffix}",
    }
    paths = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[:, 0, 0] = np.arange(n) % 256  # make every image distinct and traceable
        labels = np.arange(n) % 10
        paths[f"{split}_images"] = write_idx(folder / names[f"{split}_images"], images, IMAGES_MAGIC, gz)
        paths[f"{split}_labels"] = write_idx(folder / names[f"{split}_labels"], labels, LABELS_MAGIC, gz)
    return paths


# --- CIFAR-100 python version --------------------------------------------------------------------
def _tar_add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_cifar100_archive(folder: Path, per_class_train: int = 4, per_class_test: int = 2, seed: int = 0) -> Path:
    """cifar-100-python.tar.gz: {train, test, meta} pickles with b'data' [N, 3072] uint8 and b'fine_labels'."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cifar-100-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for split, per_class in (("train", per_class_train), ("test", per_class_test)):
            labels = np.repeat(np.arange(100), per_class)
            rng.shuffle(labels)
            data = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
            batch = {b"filenames": [f"img{i}.png".encode() for i in range(len(labels))], b"batch_label": split.encode(),
                     b"fine_labels": labels.tolist(), b"coarse_labels": (labels // 5).tolist(), b"data": data}
            _tar_add(tar, f"cifar-100-python/{split}", pickle.dumps(batch, protocol=2))
        meta = {b"fine_label_names": [f"class{i}".encode() for i in range(100)], b"coarse_label_names": [f"super{i}".encode() for i in range(20)]}
        _tar_add(tar, "cifar-100-python/meta", pickle.dumps(meta, protocol=2))
    return path


# --- JPEGs -----------------------------------------------------------------------------------------
def jpeg_bytes(rng: np.random.Generator, mode: str = "RGB", size: tuple[int, int] = (12, 9)) -> bytes:
    channels = {"RGB": 3, "L": 1}[mode]
    pixels = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)
    return out.getvalue()


# --- CUB-200-2011 ------------------------------------------------------------------------------------
def write_cub_archive(folder: Path, n_classes: int = 50, train_per_class: int = 2, test_per_class: int = 1, n_attributes: int = 312, seed: int = 0) -> Path:
    """CUB_200_2011.tgz with images.txt, image_class_labels.txt, train_test_split.txt, classes.txt,
    attributes/class_attribute_labels_continuous.txt and one tiny JPEG per image (one greyscale)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "CUB_200_2011.tgz"
    images, labels, split, classes = [], [], [], []
    with tarfile.open(path, "w:gz") as tar:
        image_id = 0
        for c in range(n_classes):
            class_name = f"{c + 1:03d}.Bird_{c + 1}"
            classes.append(f"{c + 1} {class_name}")
            # The real files interleave training and test images of a class.
            for k, is_train in enumerate([1] * train_per_class + [0] * test_per_class):
                image_id += 1
                rel = f"{class_name}/Bird_{c + 1}_{k:04d}.jpg"
                images.append(f"{image_id} {rel}")
                labels.append(f"{image_id} {c + 1}")
                split.append(f"{image_id} {is_train}")
                _tar_add(tar, f"CUB_200_2011/images/{rel}", jpeg_bytes(rng, "L" if image_id == 1 else "RGB"))
        attributes = rng.uniform(0, 100, size=(n_classes, n_attributes))
        texts = {
            "images.txt": images, "image_class_labels.txt": labels, "train_test_split.txt": split, "classes.txt": classes,
            "attributes/class_attribute_labels_continuous.txt": [" ".join(f"{v:.6f}" for v in row) for row in attributes],
        }
        for name, lines in texts.items():
            _tar_add(tar, f"CUB_200_2011/{name}", ("\n".join(lines) + "\n").encode())
    return path


# --- AwA2 ----------------------------------------------------------------------------------------------
def write_awa2_archive(folder: Path, n_classes: int = 50, per_class: int = 12, n_attributes: int = 85, seed: int = 0) -> Path:
    """AwA2-data.zip: Animals_with_Attributes2/{classes.txt, predicate-matrix-continuous.txt,
    JPEGImages/<class>/<class>_<n>.jpg}."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "AwA2-data.zip"
    names = [f"animal+{c}" for c in range(n_classes)]
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("Animals_with_Attributes2/classes.txt", "".join(f"{c + 1}\t{name}\n" for c, name in enumerate(names)))
        matrix = rng.uniform(0, 100, size=(n_classes, n_attributes))
        matrix[0, 0] = -1  # AwA2 marks missing values with -1
        z.writestr("Animals_with_Attributes2/predicate-matrix-continuous.txt", "".join(" ".join(f"{v:.5f}" for v in row) + "\n" for row in matrix))
        z.writestr("Animals_with_Attributes2/README-images.txt", "miniature\n")
        for name in names:
            for k in range(per_class):
                z.writestr(f"Animals_with_Attributes2/JPEGImages/{name}/{name}_{10001 + k}.jpg", jpeg_bytes(rng))
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * keep)])
    return path
