"""Shared fixtures and helpers: tiny task streams built once per session, hand-made images,
and reference computations written independently of the library (loss, gradients, GEM's QP)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import quadprog
import torch

from agem.datasets import build_stream
from agem.streams import RawImages, StreamHeader, TaskSpec, TaskStream, load_stream, write_stream

DIGITS = {"source": "sklearn_digits", "source_options": {"test_fraction": 0.2, "split_seed": 0}}
# 1 CV + 3 evaluation tasks of permuted 8×8 digits, and 1 CV + 2 evaluation tasks of 2 classes.
PERMUTED_SPEC = {**DIGITS, "layout": "permuted", "n_tasks": 4, "n_cv_tasks": 1}
SPLIT_SPEC = {**DIGITS, "layout": "split", "n_tasks": 3, "n_cv_tasks": 1, "classes_per_task": 2}
SPECS = {"permuted": PERMUTED_SPEC, "split": SPLIT_SPEC}
SMALL_MLP = {"type": "mlp", "hidden": [32]}


@pytest.fixture(scope="session", autouse=True)
def _single_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def stream_files(tmp_path_factory) -> dict[tuple[str, int], Path]:
    """Digits streams keyed by (layout, seed), for seeds 1 and 2. Tests must not modify them."""
    folder = tmp_path_factory.mktemp("streams")
    paths = {}
    for layout, spec in SPECS.items():
        for seed in (1, 2):
            paths[layout, seed] = folder / f"{layout}_seed{seed}.h5"
            build_stream(f"{layout}_digits", spec, seed, paths[layout, seed])
    return paths


@pytest.fixture(scope="session")
def permuted_stream(stream_files) -> TaskStream:
    return load_stream(stream_files["permuted", 1])


@pytest.fixture(scope="session")
def split_stream(stream_files) -> TaskStream:
    return load_stream(stream_files["split", 1])


@pytest.fixture(params=["permuted", "split"])
def any_stream(request, permuted_stream, split_stream) -> TaskStream:
    return {"permuted": permuted_stream, "split": split_stream}[request.param]


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


# --- independent reference computations --------------------------------------------------------
def restricted_loss(logits: torch.Tensor, y: torch.Tensor, classes_of_rows: list[torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy where each example's softmax runs over its own task's classes only."""
    losses = []
    for i, classes in enumerate(classes_of_rows):
        target = int((classes == y[i]).nonzero())
        losses.append(-torch.log_softmax(logits[i, classes], 0)[target])
    return torch.stack(losses).mean()


def task_classes(stream: TaskStream, task_ids: torch.Tensor) -> list[torch.Tensor]:
    return [stream.tasks[int(k)].classes for k in task_ids]


def reference_gradient(model: torch.nn.Module, stream: TaskStream, x, y, task_ids) -> torch.Tensor:
    """∂(restricted loss)/∂θ, flattened in ``model.parameters()`` order, by plain autograd."""
    params = list(model.parameters())
    loss = restricted_loss(model(x), y, task_classes(stream, task_ids))
    return torch.cat([p.flatten() for p in torch.autograd.grad(loss, params)])


def project2cone2(G: np.ndarray, g: np.ndarray, margin: float, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """GEM's original ``project2cone2`` (Lopez-Paz & Ranzato), solved with quadprog in float64.

    Returns the dual solution v and the projected gradient Gᵀv + g.
    """
    G, g = np.asarray(G, dtype=np.float64), np.asarray(g, dtype=np.float64)
    t = G.shape[0]
    P = G @ G.T
    P = 0.5 * (P + P.T) + np.eye(t) * eps
    q = -(G @ g)
    v = quadprog.solve_qp(P, q, np.eye(t), np.zeros(t) + margin)[0]
    return v, v @ G + g
