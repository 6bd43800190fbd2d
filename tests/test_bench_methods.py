"""The per-step benchmark (agem.tools.bench) runs every registered method and reports it against VAN."""

import torch

from agem.methods import METHODS
from agem.tools.bench import BenchSettings, build_cases, format_report, run_benchmark


def test_every_method_is_timed_and_reported_relative_to_van():
    settings = BenchSettings(past_tasks=[1, 2], repeats=2, warmup=1, rounds=1, n_train=60, memory_per_task=20, ref_batch_size=16)
    report = run_benchmark(settings)
    assert set(report["step_over_van"]) == set(METHODS)
    assert report["step_over_van"]["van"] == {1: 1.0, 2: 1.0}
    assert all(ratio > 0 for ratios in report["step_over_van"].values() for ratio in ratios.values())
    assert set(report["autograd_over_written"]) == {"van", "agem", "gem"}
    assert all(ratio > 0 for ratios in report["autograd_over_written"].values() for ratio in ratios.values())
    autograd_cases = {c["name"] for c in report["cases"] if c["name"].endswith("(autograd)")}
    assert autograd_cases == {"VAN step (autograd)", *(f"{m} step, t={t} (autograd)" for m in ("A-GEM", "GEM") for t in (1, 2))}
    text = format_report(report)
    assert "step cost / VAN step" in text and "PROG-NN" in text and "iCaRL" in text
    assert "autograd step / step with the MLP's gradients written out" in text


def test_autograd_cases_run_on_autograd_and_the_others_on_written_gradients():
    settings = BenchSettings(past_tasks=[1], repeats=1, warmup=0, rounds=1, n_train=40, memory_per_task=10, ref_batch_size=8)
    cases = {c.name: c for c in build_cases(settings, torch.device("cpu"))}
    for name in ("VAN step", "A-GEM step, t=1", "GEM step, t=1"):
        assert cases[name].method.written_gradients() is not None
        assert cases[f"{name} (autograd)"].method.written_gradients() is None
