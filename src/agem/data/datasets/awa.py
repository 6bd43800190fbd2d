"""Animals with Attributes 2 for Split AWA (paper §2), read from the original ``AwA2-data.zip``.

The archive's ``Animals_with_Attributes2/`` folder holds ``classes.txt`` (index, name; the label
order), ``predicate-matrix-continuous.txt`` (50 rows × 85 continuous attributes; missing values
are -1, kept as published) and ``JPEGImages/<class>/*.jpg``. AwA2 has no official image split;
the paper's code used lists that cut each class, in file-name order, into the first 70 % for
training, the next 15 % for validation and the last 15 % for testing (``dataset_lists/AWA_*`` of
the official repository). The same cut is made here from the file names (``train_fraction``,
``test_fraction``; the validation part is not used). Images are resized to 224×224 without
cropping. No checksum of the archive is published: set one in the config
(``downloads.awa2``) to pin the file; ``verified.json`` records the md5 and sha256 of the file used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agem.data.datasets.archives import (
    ArchivedImages,
    imagenet_statistics,
    l2_normalise_rows,
    member_names,
    parse_table,
    read_members,
)
from agem.data.datasets.raw import RawDataError, RawDataset, RawFile, sources_sha256
from agem.data.stream_files import RawImages

ARCHIVE = "AwA2-data.zip"
ROOT = "Animals_with_Attributes2"
CLASSES = f"{ROOT}/classes.txt"
ATTRIBUTES = f"{ROOT}/predicate-matrix-continuous.txt"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

AWA2_RAW = RawDataset(
    name="awa2",
    files=(RawFile(ARCHIVE, "", "https://cvml.ista.ac.at/AwA2/AwA2-data.zip"),),
    homepage="https://cvml.ista.ac.at/AwA2/",
)


def _class_images(names: list[str]) -> dict[str, list[str]]:
    by_class: dict[str, list[str]] = {}
    prefix = f"{ROOT}/JPEGImages/"
    for name in names:
        if name.startswith(prefix) and name.lower().endswith(IMAGE_SUFFIXES):
            folder, _, _file = name[len(prefix) :].partition("/")
            by_class.setdefault(folder, []).append(name)
    return {c: sorted(files) for c, files in by_class.items()}


def load_awa2(raw_dir: Path, image_size: int = 224, train_fraction: float = 0.7, test_fraction: float = 0.15, normalise: str = "mean") -> RawImages:
    """Split AWA's images (lazy), labels in ``classes.txt`` order and L2-normalised attributes.

    ``normalise``: ``mean`` (default; the network is trained from scratch, like the paper's, which
    subtracted the ImageNet mean) or ``mean_std``.
    """
    if not (0 < train_fraction and 0 < test_fraction and train_fraction + test_fraction <= 1):
        raise ValueError(f"train_fraction ({train_fraction}) and test_fraction ({test_fraction}) must be positive and sum to at most 1")
    mean, std = imagenet_statistics(image_size, normalise)
    archive = Path(raw_dir) / ARCHIVE
    members = read_members(archive, [CLASSES, ATTRIBUTES])
    classes = [row[1] for row in parse_table(members[CLASSES].decode(), f"{archive}:{CLASSES}", columns=2)]
    attributes = np.array(parse_table(members[ATTRIBUTES].decode(), f"{archive}:{ATTRIBUTES}"), dtype=np.float32)
    if attributes.shape[0] != len(classes):
        raise RawDataError(f"{archive}: {len(classes)} classes in classes.txt but {attributes.shape[0]} rows in predicate-matrix-continuous.txt")
    images = _class_images(member_names(archive))
    empty = [c for c in classes if not images.get(c)]
    if empty:
        raise RawDataError(f"{archive}: no images under {ROOT}/JPEGImages/ for class(es) {empty[:5]}")
    split_members: dict[str, list[str]] = {"train": [], "test": []}
    split_labels: dict[str, list[int]] = {"train": [], "test": []}
    for label, name in enumerate(classes):
        files = images[name]
        n_train, n_test = round(len(files) * train_fraction), round(len(files) * test_fraction)
        if n_train == 0 or n_test == 0:
            raise RawDataError(f"{archive}: class {name!r} has {len(files)} images, too few for a training and a test part")
        for split, chosen in (("train", files[:n_train]), ("test", files[len(files) - n_test :])):
            split_members[split] += chosen
            split_labels[split] += [label] * len(chosen)
    return RawImages(
        ArchivedImages(archive, split_members["train"], image_size), np.array(split_labels["train"]),
        ArchivedImages(archive, split_members["test"], image_size), np.array(split_labels["test"]),
        pixel_scale=255.0, source="awa2", source_sha256=sources_sha256([archive]),
        mean=mean, std=std, attributes=l2_normalise_rows(attributes),
    )
