"""The embedded benchmark's source: scikit-learn's 1,797 real 8×8 handwritten digits.

They ship inside scikit-learn, so the default pipeline runs with no network. Pixels are
integers 0..16 (``pixel_scale`` 16 maps them to [0, 1], like MNIST's /255). One stratified
train/test split, fixed by ``split_seed``, is shared by all tasks and all stream seeds, as MNIST's
test set is.
"""

from __future__ import annotations

import hashlib

import numpy as np

from agem.data.stream_files import RawImages


def load_digits_images(test_fraction: float = 0.2, split_seed: int = 0) -> RawImages:
    # Imported here, not at the top: scikit-learn takes about a second to import, and the workflow
    # imports this module when it parses (every snakemake call, every SLURM job's own snakemake).
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images.reshape(len(digits.images), -1).astype(np.uint8)
    labels = digits.target.astype(np.int64)
    checksum = hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=split_seed
    )
    return RawImages(train_x, train_y, test_x, test_y, pixel_scale=16.0, source="sklearn.datasets.load_digits", source_sha256=checksum)
