"""A method defined outside this repository (examples/external_method, ER-Reservoir): installed
as a package it registers through its entry point; on PYTHONPATH it runs by name through the
whole workflow on the digits benchmarks, its jobs importing it themselves."""

import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from agem.runs.runfile import read_run
from helpers.workflow import REPO, snakemake, write_config

EXAMPLE = REPO / "examples" / "external_method"


def environment(*folders) -> dict:
    paths = [str(f) for f in folders] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


@pytest.mark.slow
def test_installed_package_registers_through_its_entry_point(tmp_path):
    site, package = tmp_path / "site", tmp_path / "external_method"
    shutil.copytree(EXAMPLE, package)  # pip builds in the source folder: not in the repository
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                              "--target", str(site), str(package)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    check = "from agem.methods.plugins import load_method_modules; print(load_method_modules())"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=tmp_path, env=environment(site))
    assert done.returncode == 0, done.stderr
    assert "'er_reservoir': ['er_reservoir']" in done.stdout


@pytest.mark.slow
def test_external_method_runs_by_name_through_the_workflow(tmp_path):
    small = write_config(tmp_path / "small.yaml", {  # the example's config on smaller streams
        "datasets": ["split_digits"], "seeds": [7],
        "benchmarks": {"split_digits": {"n_tasks": 3, "memory_per_task": 20}},
    })
    config = ["--configfile", str(EXAMPLE / "external_method.yaml"), str(small)]
    result = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                             str(tmp_path), "--cores", "2", "tables", *config],
                            capture_output=True, text=True, timeout=600, env=environment(EXAMPLE), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    run = read_run(next((tmp_path / "results" / "runs" / "split_digits" / "er_reservoir").glob("*/seed7.h5")))
    assert run.config["method_module"] == "er_reservoir" and run.acc_final.shape == (3, 3)
    main = pd.read_csv(tmp_path / "results" / "small" / "tables" / "main.csv")
    assert list(main.method) == ["van", "agem", "er", "er_reservoir"]
    assert (main.n_seeds == 1).all() and main.A_T_mean.between(0, 100).all()
    assert "ER-RESERVOIR ‡" in (tmp_path / "results" / "small" / "tables" / "main.md").read_text()


def test_module_missing_from_the_path_stops_before_any_job(tmp_path):
    """Without examples/external_method on PYTHONPATH the config check names the module and the fix."""
    result = snakemake(tmp_path, "-n", "--cores", "1", "--configfile", str(EXAMPLE / "external_method.yaml"))
    assert result.returncode != 0
    assert "method_modules: cannot import 'er_reservoir'" in result.stdout + result.stderr
    assert "PYTHONPATH" in result.stdout + result.stderr and not (tmp_path / "results").exists()
