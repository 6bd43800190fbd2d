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

from agem.data.datasets.raw import RAW_ROOT, VERIFIED, RawDataError, RawDataset, RawFile, sources_sha256
from agem.data.stream_files import RawImages

IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801
IDX_FILES = ("train_images", "train_labels", "test_images", "test_labels")
# MNIST's first 5,000 training images were the TF loader's validation set: 55,000 remain per task
# (docs/decisions.md#mnist-holdout: train[5000:]).
MNIST_HELD_OUT = 5000


def read_idx(path: str | Path, magic: int, numbered_classes: bool = True) -> np.ndarray:
    """An IDX file (gzipped or not) as a uint8 array of its declared shape.

    A label file must number its classes 0..K-1, each used (``numbered_classes``; see
    :func:`check_class_numbering`): a test-label file, which may lack a class, is instead checked
    against its training labels by :func:`load_idx_images`.
    """
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
    array = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)
    if magic == LABELS_MAGIC and numbered_classes:
        check_class_numbering(array, path)
    return array


def check_class_numbering(labels: np.ndarray, path: str | Path) -> int:
    """The number of classes K of a label file whose labels use every value 0..K-1.

    The class count is the largest label + 1 (as the stream builder counts it), so a single stray
    label (200 in a 10-class file) would otherwise make 191 classes, 190 of them empty, and the
    config check's advice ("memory_per_task <= 0") would not point at the file.
    """
    counts = np.bincount(labels.astype(np.int64), minlength=1)
    unused = np.flatnonzero(counts == 0)
    if len(labels) and len(unused):
        first_unused = int(unused[0])
        bad_value = int(labels[labels > first_unused].min())
        position = int(np.flatnonzero(labels == bad_value)[0])
        raise RawDataError(
            f"{path}: label {bad_value} at position {position} (counting from 0) skips the class(es) {first_unused}..{bad_value - 1}, "
            f"which no label uses; the labels must number the classes 0..K-1 (the file's labels below {first_unused} do). "
            "Correct the label, or renumber the classes without gaps"
        )
    return len(counts)


def check_test_labels(test_labels: np.ndarray, n_classes: int, test_path: str | Path, train_path: str | Path) -> None:
    """Every test label must be one of the training labels' classes 0..n_classes-1."""
    outside = np.flatnonzero(test_labels >= n_classes)
    if len(outside):
        position = int(outside[0])
        raise RawDataError(
            f"{test_path}: label {int(test_labels[position])} at position {position} (counting from 0) is not a class of the training labels "
            f"{train_path} (0..{n_classes - 1}); correct the label, or use the test labels of the same dataset"
        )


def load_idx_images(train_images: str, train_labels: str, test_images: str, test_labels: str, held_out: int = 0) -> RawImages:
    """A dataset given as four IDX files, its images flattened (the MLP's input, paper §2)."""
    paths = {"train_images": train_images, "train_labels": train_labels, "test_images": test_images, "test_labels": test_labels}
    arrays = {}
    for split in ("train", "test"):
        images = read_idx(paths[f"{split}_images"], IMAGES_MAGIC)
        labels = read_idx(paths[f"{split}_labels"], LABELS_MAGIC, numbered_classes=split == "train").astype(np.int64)
        if len(images) != len(labels):
            raise RawDataError(f"{paths[f'{split}_images']} holds {len(images)} images but {paths[f'{split}_labels']} {len(labels)} labels")
        arrays[split] = (images, labels)
    if not len(arrays["train"][1]):
        raise RawDataError(f"{paths['train_labels']} holds no labels: a training set needs images")
    check_test_labels(arrays["test"][1], int(arrays["train"][1].max()) + 1, paths["test_labels"], paths["train_labels"])
    train_size, test_size = arrays["train"][0].shape[1:], arrays["test"][0].shape[1:]
    if train_size != test_size:
        raise RawDataError(
            f"{paths['test_images']} holds images of {_size(test_size)} pixels but {paths['train_images']} of {_size(train_size)}; "
            "the network's input is one size: use test and training images of the same dataset, or resize one set"
        )
    arrays = {split: (images.reshape(len(images), -1), labels) for split, (images, labels) in arrays.items()}
    train_x, train_y = arrays["train"]
    if not 0 <= held_out < len(train_x):
        raise ValueError(f"held_out must be in 0..{len(train_x) - 1} (the training set has {len(train_x)} images), got {held_out}")
    test_x, test_y = arrays["test"]
    return RawImages(
        train_x[held_out:], train_y[held_out:], test_x, test_y, pixel_scale=255.0,
        source=f"idx:{Path(train_images).parent}", source_sha256=sources_sha256(Path(p) for p in paths.values()),
    )


def _size(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


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
# The sha256 of the original files. Debian's copies hold the same compressed data under a gzip
# header stripped of the file name and time (strip-nondeterminism); with that header restored,
# each has the md5 published upstream (and in torchvision), and these sha256 (checked by
# tests/test_datasets_idx.py). So Debian's files differ byte for byte and are used unchecked.
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_RAW = RawDataset(
    name="fashion_mnist",
    files=(
        RawFile("train-images-idx3-ubyte.gz", "sha256:3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                FASHION_MNIST_URL + "train-images-idx3-ubyte.gz"),
        RawFile("train-labels-idx1-ubyte.gz", "sha256:a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                FASHION_MNIST_URL + "train-labels-idx1-ubyte.gz"),
        RawFile("t10k-images-idx3-ubyte.gz", "sha256:346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                FASHION_MNIST_URL + "t10k-images-idx3-ubyte.gz"),
        RawFile("t10k-labels-idx1-ubyte.gz", "sha256:67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                FASHION_MNIST_URL + "t10k-labels-idx1-ubyte.gz"),
    ),
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)


def fashion_mnist_folder(folder: str | Path | None = None) -> Path:
    """Where source ``fashion_mnist`` reads its four files: ``folder`` if given (your own copy),
    else Debian's package if all four are installed, else the download folder
    ``resources/raw/fashion_mnist/`` (rule ``download``, checksums verified)."""
    if folder is not None:
        return Path(folder)
    if all((DEBIAN_FASHION_MNIST / name).is_file() for name in FASHION_MNIST_FILES.values()):
        return DEBIAN_FASHION_MNIST
    return RAW_ROOT / FASHION_MNIST_RAW.name


def fashion_mnist_inputs(options: dict) -> list[str]:
    """The files rule build_images waits for: the four files of a given or Debian folder, or the
    download's ``verified.json``, which makes Snakemake download and verify them first."""
    folder = fashion_mnist_folder(options.get("folder"))
    if options.get("folder") is None and folder != DEBIAN_FASHION_MNIST:
        return [str(folder / VERIFIED)]
    return [str(folder / name) for name in FASHION_MNIST_FILES.values()]


def load_fashion_mnist(folder: str | None = None, held_out: int = 0) -> RawImages:
    """Fashion-MNIST from a folder of its four original files (default: :func:`fashion_mnist_folder`)."""
    chosen = fashion_mnist_folder(folder)
    if folder is None and chosen != DEBIAN_FASHION_MNIST and not (chosen / VERIFIED).is_file():
        raise RawDataError(
            f"Fashion-MNIST is neither installed in {DEBIAN_FASHION_MNIST}/ nor downloaded to {chosen}/: run "
            f"`snakemake {chosen / VERIFIED}` (downloads and verifies it), `apt-get install dataset-fashion-mnist`, "
            "or set source_options.folder to a folder of its four files"
        )
    return load_idx_images(**{key: str(chosen / name) for key, name in FASHION_MNIST_FILES.items()}, held_out=held_out)
