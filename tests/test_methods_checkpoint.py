"""Every method survives the workflow's task-boundary checkpoints: a run killed after a task and
resumed ends exactly like an uninterrupted one. A checkpoint holds the method's state as tensors
and plain data (agem.methods.saved_state), loaded into a method built afresh from the run's
configuration; a user's own method needs no extra code for it."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from agem.methods import METHODS, Batch, ContinualMethod, RehearsalMethod
from agem.methods.saved_state import CheckpointStateError
from agem.training.loop import train_run
from helpers.checkpoint import SETTINGS, Killed, assert_same_results, kill_after
from helpers.streams import SMALL_MLP

REPO = Path(__file__).resolve().parents[1]

NEW_METHODS = {
    "ewc": {"lr": 0.1, "lam": 10.0, "fisher_update_every": 3},
    "pi": {"lr": 0.03, "lam": 0.1},  # lr 0.1 diverges here, like the paper's PI on MNIST
    "mas": {"lr": 0.1, "lam": 0.1},
    "rwalk": {"lr": 0.1, "lam": 1.0, "fisher_update_every": 3},
    "prognn": {"lr": 0.1},
    "sgem": {"lr": 0.1},
    "icarl": {"lr": 0.1},
}


@pytest.fixture(autouse=True)
def own_key(tmp_path, monkeypatch):
    """Each test's checkpoint key in its own cache folder (not the user's ~/.cache)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def assert_resumes_exactly(stream, tmp_path, method: str, hparams: dict) -> None:
    def run(**kwargs):
        return train_run(stream, method, hparams, SMALL_MLP, 20, SETTINGS, seed=11, **kwargs)

    uninterrupted = run(log=lambda _: None)
    checkpoint = tmp_path / "run.pt"
    # Killed after the second-last task: the resumed part starts from state built over >= 1 task.
    with pytest.raises(Killed):
        run(log=kill_after(f"task {uninterrupted.n_tasks - 1}/{uninterrupted.n_tasks} done"), checkpoint=checkpoint)
    lines: list[str] = []
    resumed = run(log=lines.append, checkpoint=checkpoint)
    assert any("resuming from checkpoint" in line for line in lines), lines[:3]
    assert_same_results(uninterrupted, resumed)
    assert not uninterrupted.diverged


@pytest.mark.parametrize("method", sorted(NEW_METHODS))
def test_resumed_run_equals_uninterrupted_run(any_stream, tmp_path, method):
    assert_resumes_exactly(any_stream, tmp_path, method, NEW_METHODS[method])


class Bookkeeping:
    """A plain object of a user's method, restored attribute by attribute."""

    def __init__(self):
        self.seen_per_task: dict[int, int] = {}
        self.history: list[tuple[int, float]] = []


class UsersOwnMethod(RehearsalMethod):
    """A user's method with state of many kinds, and no checkpoint code: the generic walk saves it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.book = Bookkeeping()
        self.recent: torch.Tensor | None = None  # grows: None in a fresh method
        self.last_task = None  # a Task of the stream, saved as its index
        self.scale = np.ones(3)
        self.window = slice(0, 0)
        self.label = "steps"

    def begin_task(self, task) -> None:
        super().begin_task(task)
        self.last_task = task

    def observe(self, batch: Batch) -> torch.Tensor:
        task = self.current_task.index
        self.book.seen_per_task[task] = self.book.seen_per_task.get(task, 0) + len(batch.y)
        self.recent = batch.x if self.recent is None else torch.cat([self.recent, batch.x])[-30:]
        self.window = slice(0, len(self.recent))
        self.scale *= 1.001
        lr = self.hparams.lr * float(self.scale[0]) * (1 + 0.01 * self.last_task.index)
        x = torch.cat([batch.x, self.recent[self.window][:5]]) if len(self.memory) else batch.x
        y = torch.cat([batch.y, batch.y[: len(x) - len(batch.y)]])
        ids = torch.cat([batch.task_ids, batch.task_ids[: len(x) - len(batch.y)]])
        loss = self.gradient_into(0, x, y, ids)
        self.flat.sgd_step(lr)
        self.book.history.append((task, float(loss)))
        return loss


@pytest.fixture
def users_method(monkeypatch):
    monkeypatch.setitem(METHODS, "users_own", UsersOwnMethod)
    monkeypatch.setattr(UsersOwnMethod, "name", "users_own")


def test_users_own_method_round_trips_without_checkpoint_code(permuted_stream, tmp_path, users_method):
    assert_resumes_exactly(permuted_stream, tmp_path, "users_own", {"lr": 0.1})


def test_example_plugin_method_round_trips(split_stream, tmp_path, monkeypatch):
    """ER-Reservoir of examples/external_method, a method defined outside the package."""
    monkeypatch.syspath_prepend(str(REPO / "examples" / "external_method"))
    registered, modules = dict(METHODS), set(sys.modules)
    try:
        METHODS.pop("er_reservoir", None)
        importlib.import_module("er_reservoir")
        assert_resumes_exactly(split_stream, tmp_path, "er_reservoir", {"lr": 0.1})
    finally:  # the registry and the imports as they were
        METHODS.clear()
        METHODS.update(registered)
        for name in set(sys.modules) - modules:
            del sys.modules[name]


class KeepsAFunction(ContinualMethod):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.schedule = lambda step: 0.1


def test_state_that_cannot_be_saved_fails_before_training_naming_the_attribute(permuted_stream, tmp_path, monkeypatch):
    monkeypatch.setitem(METHODS, "keeps_a_function", KeepsAFunction)
    lines: list[str] = []
    with pytest.raises(CheckpointStateError, match=r"KeepsAFunction\.schedule: a builtins\.function cannot be saved.*override checkpoint_state"):
        train_run(permuted_stream, "keeps_a_function", {"lr": 0.1}, SMALL_MLP, 20, SETTINGS, seed=11, log=lines.append, checkpoint=tmp_path / "run.pt")
    assert lines == [] and not (tmp_path / "run.pt").exists()  # refused at set-up, before "training 3 tasks"
    # Without checkpoints such a method trains as before.
    train_run(permuted_stream, "keeps_a_function", {"lr": 0.1}, SMALL_MLP, 20, SETTINGS, seed=11, log=lambda _: None)
