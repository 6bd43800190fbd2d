"""Result sets end to end: a narrowed run of the same configuration, or another experiment, never
touches the full run's tables and figures, and every experiment reads the same shared run files."""

import hashlib

import pandas as pd
import pytest

from helpers.workflow import TINY_CONFIG, snakemake, write_config


def fingerprints(folder) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: its checksum and modification time (ns)."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_narrowed_run_leaves_the_full_run_untouched_and_shares_its_runs(tmp_path):
    config = write_config(tmp_path / "tiny.yaml", TINY_CONFIG)
    full = snakemake(tmp_path, "--cores", "2", "--configfile", str(config))
    assert full.returncode == 0, full.stdout + full.stderr
    results = tmp_path / "results"
    full_set = results / "tiny"  # named after the config file
    before = fingerprints(full_set)
    runs_before = fingerprints(results / "runs")
    assert {"tables/main.csv", "tables/table4_mnist_cifar.csv", "figures/README.md", "figures/fig1_bars.png"} <= set(before)

    # The narrowing: fewer methods and one seed, on the command line, without a name.
    narrowed = snakemake(tmp_path, "--cores", "2", "--configfile", str(config), "--config", "methods=[van]", "datasets=[split_digits]")
    assert narrowed.returncode == 0, narrowed.stdout + narrowed.stderr
    assert fingerprints(full_set) == before  # byte-identical and not rewritten
    assert fingerprints(results / "runs") == runs_before  # its run was the full run's: nothing retrained
    assert "rule train:" not in narrowed.stdout + narrowed.stderr
    (narrowed_set,) = [p for p in results.iterdir() if p.name.startswith("tiny-")]
    main = pd.read_csv(narrowed_set / "tables" / "main.csv")
    assert list(zip(main.dataset, main.method)) == [("split_digits", "van")]
    assert len(pd.read_csv(full_set / "tables" / "main.csv")) == 4

    # A named experiment of the same runs is only aggregation: no stream, no training job.
    plan = snakemake(tmp_path, "-n", "--cores", "2", "--configfile", str(config), "--config", "experiment=again")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "results/again/tables/main.csv" in plan.stdout
    assert "rule train:" not in plan.stdout and "rule build_stream:" not in plan.stdout
