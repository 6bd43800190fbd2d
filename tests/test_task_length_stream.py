"""train_per_task (the task-length study): each task of a permuted stream trains on a stratified
sample of the training images; the permutations and the test set do not change."""

import numpy as np
import pytest

from agem.data.datasets.tasks import permuted_tasks

LABELS = np.array([0] * 100 + [1] * 300 + [2] * 200)  # 600 training images, classes 1:3:2


def tasks(train_per_task=None, seed=5):
    return permuted_tasks(len(LABELS), 50, 16, 3, n_tasks=4, n_cv_tasks=1, seed=seed, train_y=LABELS, train_per_task=train_per_task)


def test_each_task_draws_its_own_sample_with_the_class_proportions():
    cut = tasks(60)
    for task in cut:
        assert len(task.train_index) == 60 and len(np.unique(task.train_index)) == 60
        assert np.bincount(LABELS[task.train_index], minlength=3).tolist() == [10, 30, 20]  # 1:3:2 exactly
        assert np.all(np.diff(task.train_index) > 0)  # sorted rows
    samples = {tuple(task.train_index) for task in cut}
    assert len(samples) == len(cut)  # a sample per task, not one shared


def test_permutations_and_test_sets_are_those_of_the_full_stream():
    full, cut = tasks(), tasks(60)
    for a, b in zip(full, cut):
        assert a.role == b.role
        assert np.array_equal(a.permutation, b.permutation)
        assert np.array_equal(a.test_index, b.test_index)
        assert np.array_equal(a.train_index, np.arange(len(LABELS)))


def test_the_sample_depends_on_the_seed_and_is_reproducible():
    assert [tuple(t.train_index) for t in tasks(60, seed=5)] == [tuple(t.train_index) for t in tasks(60, seed=5)]
    assert [tuple(t.train_index) for t in tasks(60, seed=5)] != [tuple(t.train_index) for t in tasks(60, seed=6)]


def test_all_the_images_is_no_sample_and_more_is_refused():
    assert all(np.array_equal(t.train_index, np.arange(len(LABELS))) for t in tasks(len(LABELS)))
    with pytest.raises(ValueError, match=r"train_per_task must be in 1\.\.600"):
        tasks(601)
