"""A diverging run inside the workflow: the job succeeds, its run file says 'diverged' with the
step, the main table shows ∞ for it, and the other runs are summarised as usual."""

import pandas as pd
import pytest

from agem.runs.runfile import read_run
from helpers.workflow import snakemake, write_config

# PI with a learning rate that overflows the weights at once (the paper's PI on MNIST "fails to
# train"), next to VAN on the same stream.
DIVERGING_CONFIG = {
    "datasets": ["permuted_digits"],
    "methods": ["van", "pi"],
    "seeds": [7],
    "benchmarks": {"permuted_digits": {"n_tasks": 3, "n_cv_tasks": 1, "memory_per_task": 20}},
    "hparams": {"permuted_digits": {"pi": {"lr": 1.0e18, "lam": 0.1}}},
}


@pytest.mark.slow
def test_a_nan_producing_learning_rate_gives_a_green_job_a_diverged_run_and_infinity(tmp_path):
    config = write_config(tmp_path / "diverging.yaml", DIVERGING_CONFIG)
    result = snakemake(tmp_path, "--cores", "2", "--configfile", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    results = tmp_path / "results"

    diverged = read_run(next((results / "runs" / "permuted_digits" / "pi").glob("*/seed7.h5")))
    assert diverged.diverged and diverged.diverged_step >= 0
    assert not read_run(next((results / "runs" / "permuted_digits" / "van").glob("*/seed7.h5"))).diverged

    main = pd.read_csv(results / "diverging" / "tables" / "main.csv").set_index("method")
    assert main.loc["pi", "A_T_mean"] == float("inf") and main.loc["pi", "n_diverged"] == 1
    assert 0 < main.loc["van", "A_T_mean"] < 100 and main.loc["van", "n_diverged"] == 0
    markdown = (results / "diverging" / "tables" / "main.md").read_text()
    rows = {cells[2]: cells for cells in (line.split("|") for line in markdown.splitlines()) if len(cells) > 3}
    rows = {method.strip(): [cell.strip() for cell in cells] for method, cells in rows.items()}
    assert "∞" in rows["PI"] and "∞" not in rows["VAN"]
