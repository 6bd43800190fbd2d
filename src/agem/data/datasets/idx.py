"""MNIST-format (IDX) data: MNIST itself and any dataset in the same format.

IDX files start with a magic number: two zero bytes, a type code (0x08 = unsigned byte) and the
number of dimensions (images 0x00000803, labels 0x00000801), then one big-endian uint32 per
dimension and the data. Files may be gzipped (``.gz``, detected by content). MNIST, KMNIST,
EMNIST digits, Fashion-MNIST… all become a permuted stream like MNIST (paper §2): images
flattened to 784 pixels in [0, 1] (``pixel_scale`` 255), optionally the first ``held_out``
training images left out, as the TensorFlow loader behind the paper did (its validation set).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from agem.data.datasets.raw import RawDataError, RawDataset, RawFile, sources_sha256
from agem.data.stream_files import RawImages

IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801
IDX_FILES = ("train_images", "train_labels", "test_images", "test_labels")
# MNIST's first 5,000 training images were the TF loader's validation set: 55,000 remain per task
# (docs/decisions.md#mnist-holdout: train[5000:]).
MNIST_HELD_OUT = 5000


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """An IDX file (gzipped or not) as a uint8 array of its declared shape."""
    path = Path(path)
    if not path.is_file():
        raise RawDataError(f"IDX file {path} does not exist")
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise RawDataError(f"{path}: corrupt gzip data ({exc}); replace the file") from exc
    if len(data) < 4 or int.from_bytes(data[:4], "big") != magic:
        found = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
        raise RawDataError(
            f"{path}: not an IDX file of the expected kind: magic number "
            f"{'none' if found is None else f'0x{found:08x}'}, expected 0x{magic:08x}"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header + int(np.prod(shape)):
        raise RawDataError(f"{path}: IDX header declares shape {shape} ({int(np.prod(shape)):,} bytes) but the file holds {len(data) - header:,}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def load_idx_images(train_images: str, train_labels: str, test_images: str, test_labels: str, held_out: int = 0) -> RawImages:
    """A dataset given as four IDX files, its images flattened (the MLP's input, paper §2)."""
    paths = {"train_images": train_images, "train_labels": train_labels, "test_images": test_images, "test_labels": test_labels}
    arrays = {}
    for split in ("train", "test"):
        images = read_idx(paths[f"{split}_images"], IMAGES_MAGIC)
        labels = read_idx(paths[f"{split}_labels"], LABELS_MAGIC).astype(np.int64)
        if len(images) != len(labels):
            raise RawDataError(f"{paths[f'{split}_images']} holds {len(images)} images but {paths[f'{split}_labels']} {len(labels)} labels")
        arrays[split] = (images.reshape(len(images), -1), labels)
    train_x, train_y = arrays["train"]
    if not 0 <= held_out < len(train_x):
        raise ValueError(f"held_out must be in 0..{len(train_x) - 1} (the training set has {len(train_x)} images), got {held_out}")
    test_x, test_y = arrays["test"]
    return RawImages(
        train_x[held_out:], train_y[held_out:], test_x, test_y, pixel_scale=255.0,
        source=f"idx:{Path(train_images).parent}", source_sha256=sources_sha256(Path(p) for p in paths.values()),
    )


def _fetch_mnist(folder: Path, missing: list[RawFile]) -> None:
    """torchvision's MNIST class downloads (with its mirrors and md5 checks) into ``folder``."""
    from torchvision.datasets import MNIST

    class MNISTInto(MNIST):
        # torchvision keeps raw files in {root}/MNIST/raw; the placement folder holds them directly.
        @property
        def raw_folder(self) -> str:
            return str(folder)

    MNISTInto(str(folder), train=True, download=True)


MNIST_RAW = RawDataset(
    name="mnist",
    files=(
        RawFile("train-images-idx3-ubyte.gz", "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873", "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz"),
        RawFile("train-labels-idx1-ubyte.gz", "md5:d53e105ee54ea40749a09fcbcd1e9432", "https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz"),
        RawFile("t10k-images-idx3-ubyte.gz", "md5:9fb629c4189551a2d022fa330f9573f3", "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz"),
        RawFile("t10k-labels-idx1-ubyte.gz", "md5:ec29112dd5afa0611ce80d1b7f02629c", "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz"),
    ),
    homepage="http://yann.lecun.com/exdb/mnist/",
    fetch=_fetch_mnist,
)


def load_mnist(raw_dir: Path, held_out: int = MNIST_HELD_OUT) -> RawImages:
    """Permuted MNIST's images (paper §2): train[5000:] (55,000), the 10,000 test images."""
    names = [f.name for f in MNIST_RAW.files]
    return load_idx_images(*(str(Path(raw_dir) / name) for name in names), held_out=held_out)


# Debian's package dataset-fashion-mnist installs the full Fashion-MNIST in this folder.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def load_fashion_mnist(folder: str = str(DEBIAN_FASHION_MNIST), held_out: int = 0) -> RawImages:
    """Fashion-MNIST from a folder of its four original files (default: Debian's package)."""
    return load_idx_images(**{key: str(Path(folder) / name) for key, name in FASHION_MNIST_FILES.items()}, held_out=held_out)
