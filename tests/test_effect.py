"""The paper's effect on the embedded benchmark, small: on 5 permuted-digits tasks (one seed, a
64-unit MLP, 100 memories per task), A-GEM and GEM forget clearly less than VAN. Measured at
seed 1234: F_T VAN 0.42, A-GEM 0.28, GEM 0.08. A method whose constraint is lost (no
projection, a reference gradient on the wrong data) forgets like VAN and fails here."""

from __future__ import annotations

import numpy as np
import pytest

from agem.data.datasets import build_stream
from agem.data.streams import load_stream
from agem.training.loop import train_run
from agem.training.settings import TrainSettings
from helpers.streams import DIGITS

SEED = 1234
NETWORK = {"type": "mlp", "hidden": [64]}
HPARAMS = {"van": {"lr": 0.1}, "agem": {"lr": 0.1, "ref_batch_size": 256}, "gem": {"lr": 0.1}}


def final_forgetting(acc: np.ndarray) -> float:
    """F_T (paper §3): mean over earlier tasks j of the best earlier accuracy minus the final one."""
    n = len(acc)
    return float(np.mean([max(acc[k, j] for k in range(j, n - 1)) - acc[n - 1, j] for j in range(n - 1)]))


@pytest.fixture(scope="module")
def forgetting(tmp_path_factory) -> dict[str, float]:
    path = tmp_path_factory.mktemp("effect") / "permuted5.h5"
    build_stream("permuted_digits", {**DIGITS, "layout": "permuted", "n_tasks": 5, "n_cv_tasks": 0}, SEED, path)
    stream = load_stream(path)
    runs = {m: train_run(stream, m, hp, NETWORK, 100, TrainSettings(lca_batches=1), SEED, log=lambda _: None) for m, hp in HPARAMS.items()}
    return {m: final_forgetting(r.acc_final) for m, r in runs.items()}


def test_vanilla_forgets(forgetting):
    assert forgetting["van"] > 0.3


@pytest.mark.parametrize("method, margin", [("agem", 0.07), ("gem", 0.2)])
def test_episodic_memory_methods_forget_clearly_less_than_van(forgetting, method, margin):
    assert forgetting[method] < forgetting["van"] - margin, forgetting
