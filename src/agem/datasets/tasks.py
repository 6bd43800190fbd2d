"""Cutting a benchmark's images into tasks (paper §2 and §6): permuted and class-split streams.

Every random choice draws from a NumPy generator seeded by (stream seed, purpose), so the
evaluation tasks and the cross-validation tasks come from separate seed streams. The official
code drew MNIST's CV permutations from the same seed as the first evaluation permutations, so
they coincided; here they do not (agem-paper.md §1, **Decision**).
"""

from __future__ import annotations

import numpy as np

from agem.streams import TaskSpec

EVAL_STREAM, CV_STREAM = 0, 1


def stream_rng(seed: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), purpose]))


def _non_identity_permutation(rng: np.random.Generator, size: int) -> np.ndarray:
    # Every task is permuted, none identity (paper §2); a redraw is astronomically rare.
    while True:
        permutation = rng.permutation(size)
        if not np.array_equal(permutation, np.arange(size)):
            return permutation


def permuted_tasks(n_train: int, n_test: int, n_inputs: int, n_classes: int, n_tasks: int, n_cv_tasks: int, seed: int) -> list[TaskSpec]:
    """Permuted benchmark: every task sees all images under its own fixed pixel permutation."""
    if not 0 <= n_cv_tasks < n_tasks:
        raise ValueError(f"n_cv_tasks must be in 0..n_tasks-1 (n_tasks = {n_tasks}), got {n_cv_tasks}")
    classes = np.arange(n_classes)
    tasks = []
    for role, count, purpose in (("cv", n_cv_tasks, CV_STREAM), ("eval", n_tasks - n_cv_tasks, EVAL_STREAM)):
        rng = stream_rng(seed, purpose)
        for _ in range(count):
            tasks.append(TaskSpec(role, classes, np.arange(n_train), np.arange(n_test), _non_identity_permutation(rng, n_inputs)))
    return tasks


def split_tasks(train_y: np.ndarray, test_y: np.ndarray, classes_per_task: int, n_tasks: int, n_cv_tasks: int, seed: int) -> list[TaskSpec]:
    """Class-split benchmark (Split CIFAR and alike): disjoint classes per task.

    The CV tasks take the first ``n_cv_tasks × classes_per_task`` classes in label order
    (CIFAR: 0–14); the evaluation tasks take a per-seed shuffle of the remaining classes
    (CIFAR: 15–99), as in the paper's protocol (§1).
    """
    all_classes = np.unique(np.concatenate([train_y, test_y]))
    needed = n_tasks * classes_per_task
    if needed > len(all_classes):
        raise ValueError(
            f"{n_tasks} tasks × {classes_per_task} classes need {needed} classes, the data has {len(all_classes)}; "
            "lower n_tasks or classes_per_task"
        )
    n_cv_classes = n_cv_tasks * classes_per_task
    cv_classes = all_classes[:n_cv_classes]
    eval_classes = stream_rng(seed, EVAL_STREAM).permutation(all_classes[n_cv_classes:])[: needed - n_cv_classes]
    tasks = []
    for role, classes in (("cv", cv_classes), ("eval", eval_classes)):
        for start in range(0, len(classes), classes_per_task):
            task_classes = np.sort(classes[start : start + classes_per_task])
            tasks.append(
                TaskSpec(role, task_classes, np.flatnonzero(np.isin(train_y, task_classes)), np.flatnonzero(np.isin(test_y, task_classes)))
            )
    return tasks
