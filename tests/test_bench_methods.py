"""The per-step benchmark (agem.tools.bench) runs every registered method and reports it against VAN."""

from agem.methods import METHODS
from agem.tools.bench import BenchSettings, format_report, run_benchmark


def test_every_method_is_timed_and_reported_relative_to_van():
    settings = BenchSettings(past_tasks=[1, 2], repeats=2, warmup=1, rounds=1, n_train=60, memory_per_task=20, ref_batch_size=16)
    report = run_benchmark(settings)
    assert set(report["step_over_van"]) == set(METHODS)
    assert report["step_over_van"]["van"] == {1: 1.0, 2: 1.0}
    assert all(ratio > 0 for ratios in report["step_over_van"].values() for ratio in ratios.values())
    text = format_report(report)
    assert "step cost / VAN step" in text and "PROG-NN" in text and "iCaRL" in text
