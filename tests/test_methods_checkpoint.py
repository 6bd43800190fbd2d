"""The methods of issue 3 survive the workflow's task-boundary checkpoints: a run killed after a
task and resumed ends exactly like an uninterrupted one (pickled method state included)."""

import pytest

from agem.training.loop import train_run
from helpers.checkpoint import SETTINGS, Killed, assert_same_results, kill_after
from helpers.streams import SMALL_MLP

NEW_METHODS = {
    "ewc": {"lr": 0.1, "lam": 10.0, "fisher_update_every": 3},
    "pi": {"lr": 0.03, "lam": 0.1},  # lr 0.1 diverges here, like the paper's PI on MNIST
    "mas": {"lr": 0.1, "lam": 0.1},
    "rwalk": {"lr": 0.1, "lam": 1.0, "fisher_update_every": 3},
    "prognn": {"lr": 0.1},
    "sgem": {"lr": 0.1},
    "icarl": {"lr": 0.1},
}


@pytest.mark.parametrize("method", sorted(NEW_METHODS))
def test_resumed_run_equals_uninterrupted_run(any_stream, tmp_path, method):
    def run(**kwargs):
        return train_run(any_stream, method, NEW_METHODS[method], SMALL_MLP, 20, SETTINGS, seed=11, **kwargs)

    uninterrupted = run(log=lambda _: None)
    checkpoint = tmp_path / "run.pt"
    # Killed after the second-last task: the resumed part starts from state built over >= 1 task.
    with pytest.raises(Killed):
        run(log=kill_after(f"task {uninterrupted.n_tasks - 1}/{uninterrupted.n_tasks} done"), checkpoint=checkpoint)
    lines: list[str] = []
    resumed = run(log=lines.append, checkpoint=checkpoint)
    assert any("resuming from checkpoint" in line for line in lines)
    assert_same_results(uninterrupted, resumed)
    assert not uninterrupted.diverged
