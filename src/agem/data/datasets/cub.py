"""CUB-200-2011 for Split CUB (paper §2), read from the original ``CUB_200_2011.tgz``.

The archive's ``CUB_200_2011/`` folder holds ``images.txt`` (image id, path under ``images/``),
``image_class_labels.txt`` (image id, class 1..200), ``train_test_split.txt`` (image id,
1 = training image), ``classes.txt`` and ``attributes/class_attribute_labels_continuous.txt``
(200 rows × 312 attribute percentages). Split CUB uses the official split (5,994 training and
5,794 test images), images resized to 224×224 without cropping, and for -JE the class attribute
rows, L2-normalised (paper §5). The old Caltech address of the archive is dead; the default is
CaltechDATA's (configurable: ``downloads.cub``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agem.data.datasets.archives import (
    ArchivedImages,
    imagenet_statistics,
    l2_normalise_rows,
    parse_table,
    read_members,
)
from agem.data.datasets.raw import RawDataError, RawDataset, RawFile, sources_sha256
from agem.data.stream_files import RawImages

ARCHIVE = "CUB_200_2011.tgz"
ROOT = "CUB_200_2011"
METADATA = {
    "images": f"{ROOT}/images.txt",
    "labels": f"{ROOT}/image_class_labels.txt",
    "split": f"{ROOT}/train_test_split.txt",
    "classes": f"{ROOT}/classes.txt",
    "attributes": f"{ROOT}/attributes/class_attribute_labels_continuous.txt",
}

CUB_RAW = RawDataset(
    name="cub",
    files=(RawFile(ARCHIVE, "md5:97eceeb196236b17998738112f37df78", "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz"),),
    homepage="https://www.vision.caltech.edu/datasets/cub_200_2011/",
)


def _ids_to_column(rows: list[list[str]], name: str) -> dict[int, str]:
    table = {}
    for row in rows:
        table[int(row[0])] = row[1]
    if len(table) != len(rows):
        raise RawDataError(f"{name}: repeated image ids")
    return table


def load_cub(raw_dir: Path, image_size: int = 224, normalise: str = "mean_std") -> RawImages:
    """Split CUB's images (lazy: decoded while the image file is written), labels and attributes.

    ``normalise``: ``mean_std`` (default) subtracts torchvision's ImageNet mean and divides by its
    std, as its ImageNet weights expect; ``mean`` subtracts the mean only, as the paper's own
    pipeline did for its TensorFlow weights (docs/decisions.md#cub-imagenet).
    """
    mean, std = imagenet_statistics(image_size, normalise)
    archive = Path(raw_dir) / ARCHIVE
    members = read_members(archive, METADATA.values())
    texts = {key: members[name].decode() for key, name in METADATA.items()}
    tables = {key: parse_table(texts[key], f"{archive}:{METADATA[key]}", columns=2) for key in ("images", "labels", "split")}
    paths = _ids_to_column(tables["images"], METADATA["images"])
    labels = {k: int(v) - 1 for k, v in _ids_to_column(tables["labels"], METADATA["labels"]).items()}
    is_train = {k: v == "1" for k, v in _ids_to_column(tables["split"], METADATA["split"]).items()}
    if not set(paths) == set(labels) == set(is_train):
        raise RawDataError(f"{archive}: images.txt, image_class_labels.txt and train_test_split.txt list different image ids")
    attributes = np.array(parse_table(texts["attributes"], METADATA["attributes"]), dtype=np.float32)
    n_classes = len(parse_table(texts["classes"], METADATA["classes"], columns=2))
    if attributes.shape[0] != n_classes or max(labels.values()) >= n_classes or min(labels.values()) < 0:
        raise RawDataError(f"{archive}: {n_classes} classes, {attributes.shape[0]} attribute rows, labels up to {max(labels.values()) + 1}")
    ids = sorted(paths)
    split_ids = {"train": [i for i in ids if is_train[i]], "test": [i for i in ids if not is_train[i]]}
    images = {s: ArchivedImages(archive, [f"{ROOT}/images/{paths[i]}" for i in chosen], image_size) for s, chosen in split_ids.items()}
    return RawImages(
        images["train"], np.array([labels[i] for i in split_ids["train"]]),
        images["test"], np.array([labels[i] for i in split_ids["test"]]),
        pixel_scale=255.0, source="cub_200_2011", source_sha256=sources_sha256([archive]),
        mean=mean, std=std, attributes=l2_normalise_rows(attributes),
    )
