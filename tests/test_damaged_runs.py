"""A truncated or unreadable run file stops the workflow before any job, naming the file; the
previous tables and the other run files are left exactly as they were (sha256 before/after)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from agem.pipeline.config import ConfigError
from agem.pipeline.run_checks import check_existing_runs
from agem.runs.runfile import run_file_problem
from helpers.runs import make_record, write_records
from helpers.workflow import snakemake, write_config


def truncated_copy(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_good_run_file_has_no_problem(tmp_path):
    (path,) = write_records(tmp_path, [make_record("split_digits", "van", 7, (0.9, 0.5, 0.9))])
    assert run_file_problem(path) is None
    check_existing_runs([path, tmp_path / "absent.h5"], reuse_runs=False)  # a missing run is trained, not damaged


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.99])
def test_truncated_run_file_is_refused_with_its_name_and_the_fix(tmp_path, keep):
    (path,) = write_records(tmp_path, [make_record("split_digits", "van", 7, (0.9, 0.5, 0.9))])
    truncated_copy(path, keep)
    with pytest.raises(ConfigError) as error:
        check_existing_runs([path], reuse_runs=False)
    assert str(error.value).startswith(f"run file {path} is not a readable HDF5 file (")
    assert str(error.value).endswith(f"The tables were not touched; delete it (`rm {path}`) and rerun snakemake to retrain it")
    assert path.exists()  # never deleted by the check: a dry run must change nothing


def test_run_file_of_another_format_is_refused(tmp_path):
    import h5py

    (path,) = write_records(tmp_path, [make_record("split_digits", "van", 7)])
    with h5py.File(path, "a") as f:
        f.attrs["format_version"] = 2
    with pytest.raises(ConfigError, match=r"has format version 2, this code reads version 1\. .*with reuse_runs nothing can retrain it"):
        check_existing_runs([path], reuse_runs=True)


def sha256_tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_damaged_run_leaves_tables_and_runs_untouched(tmp_path):
    config = write_config(tmp_path / "config.yaml", {
        "datasets": ["split_digits"], "methods": ["van", "agem"], "seeds": [7],
        "benchmarks": {"split_digits": {"n_tasks": 2, "memory_per_task": 20}},
    })
    built = snakemake(tmp_path, "tables", "-c1", "--configfile", str(config))  # two tiny runs, trained
    assert built.returncode == 0, built.stderr
    (van,) = (tmp_path / "results" / "runs" / "split_digits" / "van").glob("*/seed7.h5")  # at its identity's path
    truncated_copy(van, 0.5)
    before = sha256_tree(tmp_path / "results")
    for extra in ([], ["-n"], ["--config", "reuse_runs=true"]):
        result = snakemake(tmp_path, "tables", "-c1", "--configfile", str(config), *extra)
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert f"run file {van.relative_to(tmp_path)} is not a readable HDF5 file" in output
        assert "The tables were not touched" in output and "Traceback" not in output
        assert sha256_tree(tmp_path / "results") == before, extra
