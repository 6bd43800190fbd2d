"""Inputs tied to what they claim to be: a training job refuses a stream built for another
benchmark, seed or spec; bring-your-own IDX files are inputs of build_images; the thread count
is part of the job's settings (a change retrains) and is recorded in the run file."""

from __future__ import annotations

import copy
import shutil
import time

import pytest

from agem.data.stream_files import (
    StreamMismatchError,
    check_stream_identity,
    spec_digest,
)
from agem.pipeline.config import job_settings, stream_spec
from agem.runs.runfile import read_run
from agem.training.runner import run_job
from helpers.miniature_data import write_mnist_folder
from helpers.streams import SMALL_MLP, SPECS
from helpers.workflow import snakemake, write_config


def _settings(dataset: str, spec: dict) -> dict:
    return {
        "dataset": dataset, "method": "van", "hparams": {"lr": 0.1}, "network": SMALL_MLP, "memory_per_task": 10,
        "training": {"lca_batches": 2}, "device": "cpu", "stream_spec_sha256": spec_digest(spec), "train_threads": 1,
    }


def test_stream_of_another_benchmark_is_refused_and_no_run_written(stream_files, tmp_path):
    """A split stream copied over a permuted one must not train under the permuted name."""
    stream = tmp_path / "streams" / "permuted_digits" / "seed1.h5"
    stream.parent.mkdir(parents=True)
    shutil.copy(stream_files["split", 1], stream)
    out = tmp_path / "runs" / "seed1.h5"
    with pytest.raises(StreamMismatchError, match=rf"{stream} is the stream of benchmark 'split_digits', but this job trains "
                                                  rf"'permuted_digits'; delete {stream} and rerun snakemake to rebuild it"):
        run_job(str(stream), 1, _settings("permuted_digits", SPECS["permuted"]), 1, str(out))
    assert not out.parent.exists() or list(out.parent.iterdir()) == []  # no run, no temporary file


def test_stream_of_another_seed_or_spec_is_refused(stream_files):
    path = stream_files["permuted", 1]
    check_stream_identity(path, "permuted_digits", 1, spec_digest(SPECS["permuted"]))  # the right one passes
    with pytest.raises(StreamMismatchError, match=r"was built with seed 1, but this job trains seed 2"):
        check_stream_identity(path, "permuted_digits", 2, spec_digest(SPECS["permuted"]))
    other = {**SPECS["permuted"], "n_tasks": 5}
    with pytest.raises(StreamMismatchError, match=r"was built from another benchmarks\.permuted_digits spec than the config's"):
        check_stream_identity(path, "permuted_digits", 1, spec_digest(other))


def test_job_settings_carry_the_stream_spec_and_thread_count():
    config = {
        "benchmarks": {"b": {**SPECS["split"], "memory_per_task": 5, "network": SMALL_MLP}},
        "hparams": {"b": {"van": {"lr": 0.1}}}, "training": {}, "train_threads": 3,
    }
    settings = job_settings(config, "b", "van")
    assert settings["train_threads"] == 3
    assert settings["stream_spec_sha256"] == spec_digest(stream_spec(config, "b"))
    config["train_threads"] = 2  # a param change: Snakemake retrains
    assert job_settings(config, "b", "van") != settings


def test_run_file_records_the_configured_thread_count(stream_files, tmp_path):
    out = tmp_path / "run.h5"
    settings = {**_settings("permuted_digits", SPECS["permuted"]), "train_threads": 2}
    run_job(str(stream_files["permuted", 1]), 1, settings, 1, str(out))  # Snakemake capped threads to 1
    record = read_run(out)
    assert record.config["train_threads"] == 2 and record.config["threads"] == 2


IDX_CONFIG = {
    "datasets": ["mine"], "methods": ["van"], "seeds": [1],
    "benchmarks": {"mine": {"source": "idx", "layout": "permuted", "n_tasks": 2, "memory_per_task": 5,
                            "network": {"type": "mlp", "hidden": [8]}}},
    "hparams": {"mine": {"van": {"lr": 0.1}}},
}


@pytest.mark.slow
def test_editing_an_idx_file_in_place_rebuilds_images_streams_and_runs(tmp_path):
    paths = write_mnist_folder(tmp_path / "mine", n_train=40, n_test=20)
    config = copy.deepcopy(IDX_CONFIG)
    config["benchmarks"]["mine"]["source_options"] = {key: str(path) for key, path in paths.items()}
    configfile = write_config(tmp_path / "config.yaml", config)
    first = snakemake(tmp_path, "--configfile", str(configfile), "--cores", "1", "tables")  # its run, at its identity's path, and the table
    assert first.returncode == 0, first.stderr
    assert "Nothing to be done" in snakemake(tmp_path, "--configfile", str(configfile), "-n", "tables").stdout
    time.sleep(1.1)
    write_mnist_folder(tmp_path / "mine", n_train=40, n_test=20, seed=5)  # new content under the same names
    again = snakemake(tmp_path, "--configfile", str(configfile), "-n", "tables")
    assert "build_images" in again.stdout and "build_stream" in again.stdout and "train" in again.stdout, again.stdout
