"""Cutting a benchmark's images into tasks (paper §2 and §6): permuted and class-split streams.

Every random choice draws from a NumPy generator seeded by (stream seed, purpose), so the
evaluation tasks and the cross-validation tasks come from separate seed streams. The official
code drew MNIST's CV permutations from the same seed as the first evaluation permutations, so
they coincided; here they do not (docs/decisions.md#cv-tasks).
"""

from __future__ import annotations

import numpy as np

from agem.data.stream_files import TaskSpec

EVAL_STREAM, CV_STREAM = 0, 1


def stream_rng(seed: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), purpose]))


def _non_identity_permutation(rng: np.random.Generator, size: int) -> np.ndarray:
    # Every task is permuted, none identity (paper §2); a redraw is astronomically rare.
    while True:
        permutation = rng.permutation(size)
        if not np.array_equal(permutation, np.arange(size)):
            return permutation


def permuted_tasks(
    n_train: int, n_test: int, n_inputs: int, n_classes: int, n_tasks: int, n_cv_tasks: int, seed: int,
    train_y: np.ndarray | None = None, train_per_task: int | None = None,
) -> list[TaskSpec]:
    """Permuted benchmark: every task sees all images under its own fixed pixel permutation.

    ``train_per_task`` (with the training labels ``train_y``): each task trains on a stratified
    sample of that many training images instead, drawn per task from its own seed stream (the
    task-length study, docs/decisions.md#task-length); the permutations are the same as without it.
    """
    if not 0 <= n_cv_tasks < n_tasks:
        raise ValueError(f"n_cv_tasks must be in 0..n_tasks-1 (n_tasks = {n_tasks}), got {n_cv_tasks}")
    if train_per_task is not None and not 0 < train_per_task <= n_train:
        raise ValueError(f"train_per_task must be in 1..{n_train} (the source's training images), got {train_per_task}")
    classes = np.arange(n_classes)
    tasks = []
    for role, count, purpose in (("cv", n_cv_tasks, CV_STREAM), ("eval", n_tasks - n_cv_tasks, EVAL_STREAM)):
        rng = stream_rng(seed, purpose)
        sample_rng = stream_rng(seed, purpose + SUBSAMPLE_OFFSET)
        for _ in range(count):
            permutation = _non_identity_permutation(rng, n_inputs)
            train_index = np.arange(n_train) if train_per_task in (None, n_train) else stratified_sample(train_y, train_per_task, sample_rng)
            tasks.append(TaskSpec(role, classes, train_index, np.arange(n_test), permutation))
    return tasks


# Subsamples draw from seed streams of their own, so the permutations do not depend on them.
SUBSAMPLE_OFFSET = 2


def stratified_sample(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` row indices, sorted, with every class in proportion to ``labels`` (scikit-learn's
    stratified split; the rounding remainder goes to the largest fractional parts)."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(labels))
    seed = int(rng.integers(2**31 - 1))
    chosen, _ = train_test_split(rows, train_size=size, stratify=labels, random_state=seed)
    return np.sort(chosen)


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


def recurring_class_tasks(
    train_y: np.ndarray, test_y: np.ndarray, classes_per_task: int, n_tasks: int, n_cv_tasks: int, seed: int
) -> tuple[list[TaskSpec], int]:
    """Split AWA (paper §2): classes may recur across tasks; returns the tasks and n_outputs.

    CV tasks take the first ``n_cv_tasks × classes_per_task`` classes in label order (AWA 0–14),
    as on the other split benchmarks (the official code's cross-validation mode). Each
    evaluation task samples ``classes_per_task`` distinct classes from the remaining ones (AWA
    15–49), independently of the other tasks (sampling with replacement across tasks). A class's
    training images are shuffled and cut into disjoint, nearly equal chunks, one per appearance,
    so every image is seen once; each appearance is tested on all of the class's test images.
    Task k of its role uses its own block of n_classes outputs (``label_offset`` = k ×
    n_classes: fresh weights for a recurring class), so n_outputs = n_classes × max(#CV, #eval)
    (AWA 50 × 17 = 850).
    """
    n_classes = int(max(train_y.max(), test_y.max())) + 1
    n_cv_classes = n_cv_tasks * classes_per_task
    n_eval = n_tasks - n_cv_tasks
    if n_cv_classes + classes_per_task > n_classes:
        raise ValueError(
            f"{n_cv_tasks} CV tasks × {classes_per_task} classes leave fewer than {classes_per_task} of the data's "
            f"{n_classes} classes for the evaluation tasks; lower n_cv_tasks or classes_per_task"
        )
    rng = stream_rng(seed, EVAL_STREAM)
    eval_classes = [np.sort(rng.choice(np.arange(n_cv_classes, n_classes), classes_per_task, replace=False)) for _ in range(n_eval)]
    appearances = np.bincount(np.concatenate(eval_classes), minlength=n_classes) if eval_classes else np.zeros(n_classes, int)
    chunks = {c: np.array_split(rng.permutation(np.flatnonzero(train_y == c)), appearances[c]) for c in np.flatnonzero(appearances)}
    seen = np.zeros(n_classes, dtype=int)
    tasks = []
    for k in range(n_cv_tasks):
        classes = np.arange(k * classes_per_task, (k + 1) * classes_per_task)
        offset = k * n_classes
        tasks.append(TaskSpec("cv", classes + offset, np.flatnonzero(np.isin(train_y, classes)), np.flatnonzero(np.isin(test_y, classes)), label_offset=offset))
    for k, classes in enumerate(eval_classes):
        train_rows = []
        for c in classes:
            train_rows.append(chunks[c][seen[c]])
            seen[c] += 1
        offset = k * n_classes
        tasks.append(TaskSpec("eval", classes + offset, np.sort(np.concatenate(train_rows)), np.flatnonzero(np.isin(test_y, classes)), label_offset=offset))
    return tasks, n_classes * max(n_cv_tasks, n_eval, 1)
