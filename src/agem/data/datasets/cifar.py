"""CIFAR-100 for Split CIFAR (paper §2), read from the original python-version archive.

``cifar-100-python.tar.gz`` holds ``cifar-100-python/{train,test,meta}``, pickled dicts whose
``b'data'`` is uint8 [N, 3072] (the red, green and blue 32×32 planes of each image) and
``b'fine_labels'`` the 100 classes. Pixels are scaled by 1/255 and the per-pixel mean image over
all 50,000 training images is subtracted, with no division by a standard deviation (the stream's
``mean``; normalised on the fly).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from agem.data.datasets.archives import read_members
from agem.data.datasets.raw import RawDataError, RawDataset, RawFile, sources_sha256
from agem.data.stream_files import RawImages

ARCHIVE = "cifar-100-python.tar.gz"
FOLDER = "cifar-100-python"


def _fetch_cifar100(folder: Path, missing: list[RawFile]) -> None:
    """torchvision's CIFAR100 class downloads the archive into ``folder`` (md5-checked)."""
    from torchvision.datasets import CIFAR100

    CIFAR100(str(folder), train=True, download=True)


CIFAR100_RAW = RawDataset(
    name="cifar100",
    files=(RawFile(ARCHIVE, "md5:eb9058c3a382ffc7106e4002c42a8d85", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),),
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
    fetch=_fetch_cifar100,
)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only plain containers and NumPy arrays: a downloaded pickle runs no other code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3's protocol-2 pickles spell bytes; harmless
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(data: bytes, name: str) -> dict:
    try:
        return _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:
        raise RawDataError(f"{name}: not a CIFAR python pickle ({type(exc).__name__}: {exc})") from exc


def load_cifar100(raw_dir: Path) -> RawImages:
    archive = Path(raw_dir) / ARCHIVE
    members = read_members(archive, [f"{FOLDER}/train", f"{FOLDER}/test"])
    arrays = {}
    for split in ("train", "test"):
        batch = _unpickle(members[f"{FOLDER}/{split}"], f"{archive}:{FOLDER}/{split}")
        if b"data" not in batch or b"fine_labels" not in batch:
            raise RawDataError(f"{archive}:{FOLDER}/{split} lacks b'data' or b'fine_labels'")
        images = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"fine_labels"], dtype=np.int64)
        if images.ndim != 2 or images.shape[1] != 3 * 32 * 32 or len(images) != len(labels):
            raise RawDataError(f"{archive}:{FOLDER}/{split}: data {images.shape} and {labels.shape} labels are not N × 3072 and N")
        arrays[split] = (images.reshape(-1, 3, 32, 32), labels)
    train_x, train_y = arrays["train"]
    test_x, test_y = arrays["test"]
    mean = (train_x.astype(np.float64).mean(axis=0) / 255.0).astype(np.float32)
    return RawImages(train_x, train_y, test_x, test_y, pixel_scale=255.0, source="cifar100", source_sha256=sources_sha256([archive]), mean=mean)
