"""The training-cost estimate printed when the workflow is planned (agem.pipeline.cost), checked
against the measurements it rests on and an independent one (docs/reproduction.md#cost)."""

from pathlib import Path

import pytest
import yaml

from agem.pipeline.cost import cost_lines, run_seconds

ROOT = Path(__file__).resolve().parents[1]


def merged(*names: str) -> dict:
    """config/config.yaml with the others merged over it, as Snakemake merges --configfile."""
    def merge(base: dict, over: dict) -> dict:
        return {**base, **{k: merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
                           for k, v in over.items()}}
    config: dict = {}
    for name in ("config.yaml", *names):
        config = merge(config, yaml.safe_load((ROOT / "config" / name).read_text(encoding="utf-8")))
    return config


@pytest.mark.parametrize(("method", "measured_s"), [("van", 41.0), ("agem", 247.0), ("gem", 3112.0)])
def test_whole_runs_of_the_paper_permuted_mnist_match_their_measurement(method, measured_s):
    """17 tasks × 5,500 steps on the reference MLP: the three jobs the per-step costs come from."""
    assert run_seconds(method, 17, 5500, 1.0) == pytest.approx(measured_s, rel=0.01)


def test_the_default_run_matches_an_independent_measurement():
    """docs/reproduction.md#cost: GEM took 3.6 minutes of one core per seed in the default run
    (17 tasks × 400 steps), a measurement the per-step costs were not fitted to."""
    assert run_seconds("gem", 17, 400, 1.0) / 60 == pytest.approx(3.6, rel=0.1)
    lines = cost_lines(merged())
    assert any(line.strip().startswith("permuted_mnist5k: 11 methods × 2 seeds = 22 runs, 17 tasks × 400 steps; ≈")
               for line in lines), lines


def test_the_paper_config_names_its_steps_and_says_unknown_without_a_measurement():
    lines = cost_lines(merged("paper.yaml"))
    by_benchmark = {line.split(":")[0].strip(): line for line in lines[1:-1]}
    assert list(by_benchmark) == ["permuted_mnist", "split_cifar", "split_cub", "split_awa", "split_cub_je", "split_awa_je"]
    # 55,000 training images per task at batch 10; ≈ 7 CPU-hours, GEM's 50 runs most of them.
    mnist = by_benchmark["permuted_mnist"]
    assert "10 methods × 5 seeds = 50 runs, 17 tasks × 5,500 steps" in mnist and "CPU-hours (gem" in mnist
    hours = float(mnist.split("≈ ")[1].split(" CPU-hours")[0])
    # By hand, per seed: GEM 3112 s; A-GEM, S-GEM 247 s each; VAN, MULTI-TASK 41 s each; EWC, PI,
    # MAS, RWALK 41 s × (1.45 + 1.5 + 1.4 + 1.65); PROG-NN 41 s × 591.4 / 17 (its step multiples
    # 1, 2.2, 4.4, 6.6, 8.8, then 14.73 … 80 for 5 … 16 past tasks, summed: 591.4).
    per_seed = 3112 + 2 * 247 + 2 * 41 + 41 * 6.0 + 41 * 591.4 / 17
    assert hours == pytest.approx(5 * per_seed / 3600, abs=0.06)
    # Split CIFAR: 2,500 images per task (5 classes × 500); its ResNet has no measurement.
    assert "17 tasks × 250 steps" in by_benchmark["split_cifar"]
    for conv in ("split_cifar", "split_cub", "split_awa"):
        assert "unknown" in by_benchmark[conv] and "CPU-hours" not in by_benchmark[conv], conv
    assert "GPU hours unknown" in mnist


def test_a_method_never_measured_is_named_not_guessed():
    config = merged()
    config["methods"] = ["van", "my_plugin_method"]
    config["benchmarks"]["permuted_mnist5k"]["methods"] = ["van", "my_plugin_method"]
    line = cost_lines(config)[1]
    assert "not counting my_plugin_method (never measured)" in line


def test_epochs_and_batch_size_set_the_steps():
    """4,000 digits per task (10 classes × 400): 400 steps at batch 10; 3 epochs at batch 20, 600."""
    config = merged()
    config["training"] = {**config["training"], "epochs": 3, "batch_size": 20}
    assert "17 tasks × 600 steps" in cost_lines(config)[1]
