"""GPU checks (agem.tools.gpu_check): on CUDA when present; their plumbing is exercised on the CPU."""

import pytest
import torch

from agem.tools.gpu_check import AGEM_TOLERANCE, report, run_checks

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
def test_agem_and_gem_on_cuda_match_the_cpu():
    result = run_checks(torch.device("cuda"), n_tasks=3, n_train=2000)
    assert result.errors["agem_projection"] < AGEM_TOLERANCE
    assert result.errors["agem_step_parameters"] < AGEM_TOLERANCE
    assert result.errors["gem_projection_16_tasks"] < 1e-4
    assert result.errors["agem_projection_no_sync"] < AGEM_TOLERANCE
    assert result.errors["gem_batched_gradients"] < 1e-5
    assert result.timing["steps"] == 3 * 200


def test_the_check_itself_on_the_cpu_finds_no_difference():
    # CPU against CPU must agree to the last bit; anything else would be a bug in the check.
    result = run_checks(torch.device("cpu"), n_tasks=2, n_train=100, step_repeats=1)
    exact = {"agem_projection": 0.0, "gem_projection_16_tasks": 0.0, "agem_step_parameters": 0.0, "written_gradients": 0.0}
    assert {k: result.errors[k] for k in exact} == exact
    # The sync-free projection and GEM's batched pass differ from their CPU paths by rounding only.
    assert 0 <= result.errors["agem_projection_no_sync"] < 1e-6
    assert 0 <= result.errors["gem_batched_gradients"] < 1e-6
    assert set(result.step_ms) == {"agem t=4", *(f"gem{b} t={t}" for b in ("", " batched") for t in (1, 4, 16))}
    assert result.passed and "PASS" in report(result)
    assert result.timing["steps"] == 2 * 10 and result.timing["train_seconds"] > 0
