"""Run files are validated on read (agem.runs.runfile): every fault a run file can carry (numbers
out of range, NaN where the training loop always writes an accuracy, inf, attributes changed or
missing, wrong shapes or types, a huge declared dataset, another run's file) is refused naming the
file, the problem and the fix, through ``read_run`` and through the workflow's parse-time check;
the NaNs the format does hold (tasks not yet evaluated, MULTI-TASK rows, a diverged run) are accepted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from agem.pipeline.config import ConfigError
from agem.pipeline.run_checks import check_existing_runs
from agem.report.frames import load_runs
from agem.runs.runfile import ExpectedRun, RunFileError, read_run, run_file_problems, write_run
from helpers.runs import NAN, make_record, with_identity, write_records

EXPECTED = ExpectedRun("split_digits", "van", 7, n_tasks=2)


def good_run(folder: Path, method: str = "van", **kwargs) -> Path:
    """A two-task run as a workflow job writes it: acc_final [[0.9, NaN], [0.5, 0.9]], LCA 0.3."""
    (path,) = write_records(folder, [with_identity(make_record("split_digits", method, 7, (0.9, 0.5, 0.9), 0.3, **kwargs))])
    return path


def replace_dataset(name: str, data) -> callable:
    def corrupt(f: h5py.File) -> None:
        del f[name]
        f.create_dataset(name, data=data)
    return corrupt


def set_value(name: str, index: tuple[int, ...], value: float) -> callable:
    def corrupt(f: h5py.File) -> None:
        f[name][index] = value
    return corrupt


def set_attribute(name: str, value) -> callable:
    def corrupt(f: h5py.File) -> None:
        f.attrs[name] = value
    return corrupt


def delete_attribute(f: h5py.File) -> None:
    del f.attrs["train_seconds"]


def huge_declared_dataset(f: h5py.File) -> None:
    """2·10⁶ × 2·10⁶ float64 (32 TB) declared, nothing written: the file stays a few kB."""
    del f["acc_final"]
    f.create_dataset("acc_final", shape=(2_000_000, 2_000_000), dtype=np.float64, chunks=(1, 1024))


# name -> (corruption, what the message must say after "run file PATH ")
FAULTS = {
    "accuracy_above_one": (set_value("acc_final", (1, 1), 40.0), r"has acc_final\[1, 1\] = 40, outside \[0, 1\]"),
    "accuracy_1.5": (set_value("acc_final", (1, 0), 1.5), r"has acc_final\[1, 0\] = 1\.5, outside \[0, 1\]"),
    "negative_accuracy": (set_value("acc_lca", (0, 3), -0.1), r"has acc_lca\[0, 3\] = -0\.1, outside \[0, 1\]"),
    "nan_in_lower_triangle": (set_value("acc_final", (1, 0), NAN), r"has acc_final\[1, 0\] = NaN where a finished run has an accuracy on every task j <= k"),
    "nan_inside_learning_curve": (set_value("acc_lca", (1, 4), NAN), r"has acc_lca\[1, 4\] = NaN before a value at \[1, 5\]"),
    "value_where_not_evaluated": (set_value("acc_final", (0, 1), 0.5), r"has acc_final\[0, 1\] = 0\.5 where NaN belongs: tasks j > k are not evaluated"),
    "inf": (set_value("acc_final", (1, 1), np.inf), r"has acc_final\[1, 1\] = inf; accuracies are fractions in \[0, 1\], never infinite"),
    "minus_inf": (set_value("acc_lca", (0, 0), -np.inf), r"has acc_lca\[0, 0\] = -inf"),
    "dataset_attribute_changed": (set_attribute("dataset", "permuted_digits"),
                                  r"has attribute dataset 'permuted_digits' but its config says 'split_digits': the attribute was changed"),
    "seed_attribute_changed": (set_attribute("seed", 8), r"has attribute seed 8 but its config says 7"),
    "acc_final_not_square": (replace_dataset("acc_final", np.full((2, 3), 0.5)), r"has acc_final of shape \(2, 3\), expected square \[T, T\]"),
    "acc_lca_rows": (replace_dataset("acc_lca", np.full((3, 11), 0.5)), r"has acc_lca of shape \(3, 11\), expected \(2, 11\) for T = 2"),
    "violations_rows": (replace_dataset("violations", np.zeros(5, dtype=np.int64)), r"has violations of shape \(5,\), expected \(2,\)"),
    "violations_float": (replace_dataset("violations", np.zeros(2)), r"has dataset 'violations' of type float64, expected integer"),
    "string_accuracies": (replace_dataset("acc_final", np.array([[b"0.9", b"nan"], [b"0.5", b"0.9"]])),
                          r"has dataset 'acc_final' of type \|S3, expected float"),
    "missing_attribute": (delete_attribute, r"lacks attribute 'train_seconds'"),
    "seed_as_text": (set_attribute("seed", "7"), r"has attribute 'seed' = '7' of type str, expected int"),
    "unparsable_config": (set_attribute("config", "{not json"), r"has attribute 'config' that is not valid JSON"),
    "versions_not_an_object": (set_attribute("versions", "[1, 2]"), r"has attribute 'versions' that is JSON but not an object"),
    "huge_declared_dataset": (huge_declared_dataset, r"declares dataset 'acc_final' of shape \(2000000, 2000000\), more than this reader's"),
    "negative_train_seconds": (set_attribute("train_seconds", -1.0), r"has train_seconds -1\.0, expected a finite number >= 0"),
    "nan_train_seconds": (set_attribute("train_seconds", NAN), r"has train_seconds nan"),
    "negative_memory": (set_attribute("memory_bytes", -5), r"has memory_bytes -5, expected >= 0"),
    "diverged_without_step": (set_attribute("diverged", True), r"is marked diverged but has diverged_step -1"),
    "step_without_divergence": (set_attribute("diverged_step", 40), r"is not marked diverged but has diverged_step 40"),
}


def corrupted_run(folder: Path, corruption) -> Path:
    path = good_run(folder)
    with h5py.File(path, "a") as f:
        corruption(f)
    return path


def test_a_good_run_file_passes_every_check(tmp_path):
    path = good_run(tmp_path)
    assert run_file_problems(path, EXPECTED) == []
    record = read_run(path, EXPECTED)
    np.testing.assert_array_equal(record.acc_final, [[0.9, NAN], [0.5, 0.9]])
    assert (record.dataset, record.method, record.seed, record.diverged_step) == ("split_digits", "van", 7, -1)
    check_existing_runs([path], reuse_runs=False, expected={path: EXPECTED})


@pytest.mark.parametrize("fault", FAULTS)
def test_read_run_refuses_the_fault_naming_the_file_and_the_fix(tmp_path, fault):
    corruption, message = FAULTS[fault]
    path = corrupted_run(tmp_path, corruption)
    with pytest.raises(RunFileError) as error:
        read_run(path)
    text = str(error.value)
    assert text.startswith(f"run file {path} "), text
    assert __import__("re").search(message, text), text
    assert text.endswith(f"delete it to retrain it (`rm {path}`, then rerun snakemake), or move it away to keep it out of the results")
    assert "\n" not in text


@pytest.mark.parametrize("fault", FAULTS)
def test_the_workflow_check_refuses_the_fault_before_any_job(tmp_path, fault):
    corruption, message = FAULTS[fault]
    path = corrupted_run(tmp_path, corruption)
    other = good_run(tmp_path / "other", method="agem")
    with pytest.raises(ConfigError, match=rf"^run file {path} {message}.*The tables were not touched; delete it \(`rm {path}`\)"):
        check_existing_runs([other, path], reuse_runs=False)


def test_every_problem_of_a_file_is_listed(tmp_path):
    path = good_run(tmp_path)
    with h5py.File(path, "a") as f:
        del f.attrs["memory_bytes"]
        f.attrs["config"] = "{"
        del f["violations"]
    problems = run_file_problems(path)
    assert [p.split(" ")[0:2] for p in problems] == [["lacks", "attribute"], ["has", "attribute"], ["lacks", "dataset"]], problems


# ---- identity: what the caller expects ----------------------------------------------------------------


def test_changed_attribute_is_refused_against_the_expected_run_even_without_a_config(tmp_path):
    """A hand-made run file has no config to compare with: the caller's expectation catches it."""
    (path,) = write_records(tmp_path, [make_record("split_digits", "van", 7, (0.9, 0.5, 0.9), 0.3)])
    with h5py.File(path, "a") as f:
        f.attrs["seed"] = 8
        f.attrs["dataset"] = "permuted_digits"
    assert run_file_problems(path) == []  # consistent on its own
    with pytest.raises(RunFileError, match=rf"run file {path} has dataset 'permuted_digits', expected 'split_digits'; has seed 8, expected 7; delete"):
        read_run(path, EXPECTED)
    with pytest.raises(ConfigError, match=rf"run file {path} has dataset 'permuted_digits', expected 'split_digits'; has seed 8, expected 7\. The tables"):
        check_existing_runs([path], reuse_runs=True, expected={str(path): EXPECTED})


def test_another_methods_file_copied_over_is_refused(tmp_path):
    van = good_run(tmp_path / "a")
    agem = good_run(tmp_path / "b", method="agem")
    shutil.copyfile(agem, van)
    with pytest.raises(RunFileError, match=rf"run file {van} has method 'agem', expected 'van'; delete it"):
        read_run(van, EXPECTED)
    with pytest.raises(ConfigError, match=rf"run file {van} has method 'agem', expected 'van'\. The tables were not touched"):
        check_existing_runs([van, agem], reuse_runs=False, expected={van: EXPECTED})
    # Without expectations: the two files hold the same run (one seed counted twice, van's hidden).
    with pytest.raises(ConfigError, match=rf"^run files {van} and {agem} hold the same run \(split_digits, agem, seed 7, same config\).*`rm {van} {agem}`"):
        check_existing_runs([van, agem], reuse_runs=False)
    with pytest.raises(RunFileError, match=rf"^run files {van} and {agem} hold the same run"):
        load_runs([van, agem])


def test_expected_task_count_and_config_entries(tmp_path):
    path = good_run(tmp_path)
    training = {"evaluate_future_tasks": False, "lca_batches": 10}
    assert run_file_problems(path, ExpectedRun("split_digits", "van", 7, n_tasks=2, config={"training": training})) == []
    wanted = ExpectedRun("split_digits", "van", 7, n_tasks=17, config={"training": {"lca_batches": 10}, "network": "mlp"})
    assert run_file_problems(path, wanted) == [
        "has T = 2 tasks, expected 17",
        "has config training = {'evaluate_future_tasks': False, 'lca_batches': 10}, expected {'lca_batches': 10}",
        "has no config entry 'network', expected 'mlp'",
    ]


# ---- the NaNs the format holds --------------------------------------------------------------------------


def write(folder: Path, record) -> Path:
    path = folder / f"{record.method}.h5"
    write_run(path, record)
    return path


def test_multitask_run_without_earlier_rows_or_learning_curve_is_accepted(tmp_path):
    record = make_record("split_digits", "multitask", 7, (NAN, 0.9, 0.95), multitask=True)
    assert np.isnan(record.acc_final[0]).all() and np.isnan(record.acc_lca).all()
    assert read_run(write(tmp_path, with_identity(record))).acc_final[1].tolist() == [0.9, 0.95]
    # The same shape from a method that trains task by task is a run with rows missing.
    van = write(tmp_path, with_identity(make_record("split_digits", "van", 7, (NAN, 0.9, 0.95), multitask=True)))
    assert run_file_problems(van) == ["has acc_final[0, 0] = NaN where a finished run has an accuracy on every task j <= k after task k"]


def test_multitask_run_with_a_value_in_an_earlier_row_is_refused(tmp_path):
    record = with_identity(make_record("split_digits", "multitask", 7, (NAN, 0.9, 0.95), multitask=True))
    record.acc_final[0, 1] = 0.4  # no longer shaped like a MULTI-TASK run: read as one trained task by task
    assert run_file_problems(write(tmp_path, record)) == [
        "has acc_final[0, 0] = NaN where a finished run has an accuracy on every task j <= k after task k",
        "has acc_final[0, 1] = 0.4 where NaN belongs: tasks j > k are not evaluated after task k (evaluate_future_tasks is false)"]


def test_diverged_run_stopped_anywhere_is_accepted(tmp_path):
    """Diverged in task 1 at step 15: row 0 and the first steps of task 1's curve exist, nothing after."""
    record = with_identity(make_record("split_digits", "pi", 7, (0.9, NAN, NAN), diverged=True, diverged_step=15))
    record.acc_lca[0] = 0.5
    record.acc_lca[1, :4] = 0.3
    record.acc_lca[1, 4:] = NAN
    loaded = read_run(write(tmp_path, record))
    assert loaded.diverged and loaded.diverged_step == 15
    # A diverged run still has no infinite accuracy.
    record.acc_final[0, 0] = np.inf
    assert run_file_problems(write(tmp_path, record))[0].startswith("has acc_final[0, 0] = inf")


def test_learning_curve_shorter_than_lca_batches_is_accepted(tmp_path):
    """A task of 6 steps has acc_lca[k, b] for b = 0..6 only."""
    record = with_identity(make_record("split_digits", "van", 7, (0.9, 0.5, 0.9), 0.3))
    record.acc_lca[:, 7:] = NAN
    assert run_file_problems(write(tmp_path, record)) == []


def test_future_tasks_evaluated_fill_the_whole_matrix(tmp_path):
    record = with_identity(make_record("split_digits", "van", 7, (0.9, 0.5, 0.9), 0.3))
    record.config["training"]["evaluate_future_tasks"] = True
    assert run_file_problems(write(tmp_path, record)) == [
        "has acc_final[0, 1] = NaN where a finished run has an accuracy on every task j <= k after task k (and on every task: evaluate_future_tasks)"]
    record.acc_final[0, 1] = 0.1
    assert run_file_problems(write(tmp_path, record)) == []


def test_memory_and_dense_curve_are_checked(tmp_path):
    record = with_identity(make_record("split_digits", "agem", 7, (0.9, 0.5, 0.9), 0.3))
    record.acc_memory = np.array([[1.0, NAN], [0.8, 1.0]])
    record.acc_curve = np.array([[0.4, NAN], [0.9, NAN], [0.8, 0.3]])
    record.curve_step = np.array([[0, 5], [0, 10], [1, 5]])
    assert run_file_problems(write(tmp_path, record)) == []
    record.acc_memory[1, 0] = 1.2
    record.acc_curve[2, 1] = NAN
    record.curve_step[1] = (2, 10)
    assert run_file_problems(write(tmp_path, record)) == [
        "has acc_memory[1, 0] = 1.2, outside [0, 1] (accuracies are fractions)",
        "has curve_step[1] = [2, 10], expected (task in 0..1, batch >= 1)",
    ]
    record.curve_step[1] = (0, 10)
    assert run_file_problems(write(tmp_path, record))[1] == (
        "has acc_curve[2, 1] = NaN where a finished run has an accuracy on every task j <= k after task k")


def test_dataset_stored_in_another_file_is_refused(tmp_path):
    path = good_run(tmp_path)
    elsewhere = tmp_path / "elsewhere.h5"
    with h5py.File(elsewhere, "w") as f:
        f["acc_final"] = np.full((2, 2), 0.5)
    with h5py.File(path, "a") as f:
        del f["acc_final"]
        f["acc_final"] = h5py.ExternalLink(str(elsewhere), "acc_final")
    assert run_file_problems(path) == ["has 'acc_final' as a ExternalLink to elsewhere; a run file holds its own data"]


def test_config_attribute_is_a_json_object(tmp_path):
    path = good_run(tmp_path)
    with h5py.File(path, "a") as f:
        f.attrs["config"] = json.dumps("van")
    assert run_file_problems(path) == ["has attribute 'config' that is JSON but not an object"]
