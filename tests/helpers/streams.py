"""Task streams made by hand for the tests: tiny digits specs, unique images, explicit tasks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agem.data.stream_files import RawImages, StreamHeader, TaskSpec, write_stream

DIGITS = {"source": "sklearn_digits", "source_options": {"test_fraction": 0.2, "split_seed": 0}}


# 1 CV + 3 evaluation tasks of permuted 8×8 digits, and 1 CV + 2 evaluation tasks of 2 classes.
PERMUTED_SPEC = {**DIGITS, "layout": "permuted", "n_tasks": 4, "n_cv_tasks": 1}


SPLIT_SPEC = {**DIGITS, "layout": "split", "n_tasks": 3, "n_cv_tasks": 1, "classes_per_task": 2}


SPECS = {"permuted": PERMUTED_SPEC, "split": SPLIT_SPEC}


SMALL_MLP = {"type": "mlp", "hidden": [32]}


# --- hand-made streams -------------------------------------------------------------------------
def unique_images(n: int, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """``n`` uint8 images that are pairwise different (the index is written into two pixels)."""
    images = rng.integers(0, 256, size=(n, int(np.prod(shape))), dtype=np.uint8)
    images[:, 0] = np.arange(n) % 256
    images[:, 1] = np.arange(n) // 256
    return images.reshape(n, *shape)


def handmade_raw(train_y, test_y, shape, seed: int = 0, mean: np.ndarray | None = None, pixel_scale: float = 255.0) -> RawImages:
    rng = np.random.default_rng(seed)
    train_y, test_y = np.asarray(train_y, dtype=np.int64), np.asarray(test_y, dtype=np.int64)
    images = unique_images(len(train_y) + len(test_y), shape, rng)
    return RawImages(images[: len(train_y)], train_y, images[len(train_y) :], test_y, pixel_scale, "handmade", "0" * 64, mean)


def class_task(role: str, classes, raw: RawImages, label_offset: int = 0) -> TaskSpec:
    """A split-layout task: every base row whose label is one of ``classes`` (minus the offset)."""
    base = np.asarray(classes) - label_offset
    return TaskSpec(role, np.asarray(classes), np.flatnonzero(np.isin(raw.train_y, base)),
                    np.flatnonzero(np.isin(raw.test_y, base)), label_offset=label_offset)


def write_handmade(path: Path, raw: RawImages, tasks: list[TaskSpec], layout: str, n_outputs: int, seed: int = 0) -> Path:
    write_stream(path, StreamHeader("handmade", seed, layout, n_outputs, {"note": "test"}), raw, tasks)
    return path
