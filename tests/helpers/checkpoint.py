"""Killing a run after a task's checkpoint, and comparing two runs' results."""

from __future__ import annotations

import numpy as np

from agem.training.settings import TrainSettings

SETTINGS = TrainSettings(curve_every=7)


class Killed(Exception):
    """Stands for the job being killed right after a task's checkpoint was written."""


def kill_after(task_line: str):
    def log(line: str) -> None:
        if task_line in line:
            raise Killed(line)

    return log


def assert_same_results(first, second):
    for name in ("acc_final", "acc_lca", "acc_memory", "acc_curve", "curve_step", "violations"):
        a, b = getattr(first, name), getattr(second, name)
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_array_equal(a, b, err_msg=name)
    assert first.memory_bytes == second.memory_bytes
