"""S-GEM (agem.methods.sgem): at most one constraint per step, each a randomly chosen past task's
whole memory; the projection against quadprog (GEM's QP) and A-GEM's closed form."""

import pytest
import torch

import agem.methods.gem as gem_module
from helpers.references import project2cone2, reference_gradient
from helpers.training import (
    _train_past_tasks,
    batches,
    copy_of,
    make_method,
    parameters,
)


def steps_with_constraint_rows(stream, hparams, monkeypatch, n: int = 25):
    """Train on all but the last task, then ``n`` steps on it; per step yield (twin before the
    step, batch, applied update / lr, the constraint rows GEM's QP was given or None)."""
    model, method = make_method(stream, "sgem", hparams, memory=20)
    # Autograd forms the chosen task's gradient (row 1) at every step, which these tests read to
    # tell which task was chosen; the written path skips it when no conflict is possible and takes
    # the same steps (tests/test_mlp_gradients.py).
    method.gradients = None
    given = []
    real_project = method.project

    def recording_project(g, G, *args, **kwargs):
        given.append(G.clone())
        return real_project(g, G, *args, **kwargs)

    monkeypatch.setattr(method, "project", recording_project)
    *past, current = stream.tasks
    _train_past_tasks(method, past)
    method.begin_task(current)
    for batch in batches(current, n):
        twin, before, calls = copy_of(model), parameters(model), len(given)
        method.observe(batch)
        assert method.flat.grads.shape[0] <= 2  # g and one memory gradient, never more
        yield twin, batch, (before - parameters(model)).double() / method.hparams.lr, given[calls] if len(given) > calls else None, method


def memory_gradients(twin, stream, method):
    return [reference_gradient(twin, stream, *m).double() for m in method.memory.per_task()]


def test_never_more_than_one_constraint_chosen_at_random(any_stream, monkeypatch):
    chosen_tasks, projected = set(), 0
    for twin, _batch, _applied, rows, method in steps_with_constraint_rows(any_stream, {"lr": 0.1}, monkeypatch):
        assert len(method.memory.per_task()) == len(any_stream.tasks) - 1 >= 2  # more than one task to choose from
        used = method.flat.grads[1].double()  # the memory gradient of this step
        distances = [float((used - g_k).norm() / g_k.norm()) for g_k in memory_gradients(twin, any_stream, method)]
        assert min(distances) < 1e-4  # it is one past task's whole-memory gradient
        chosen_tasks.add(distances.index(min(distances)))
        if rows is not None:
            projected += 1
            assert rows.shape[0] == 1
    assert len(chosen_tasks) >= 2 and projected > 0


def test_projection_is_gems_qp_on_the_chosen_row(any_stream, monkeypatch):
    margin, eps = 0.5, 1e-3
    for twin, batch, applied, rows, method in steps_with_constraint_rows(any_stream, {"lr": 0.1, "margin": margin, "eps": eps}, monkeypatch):
        g = reference_gradient(twin, any_stream, batch.x, batch.y, batch.task_ids).double()
        g_k = min(memory_gradients(twin, any_stream, method), key=lambda m: float((method.flat.grads[1].double() - m).norm()))
        conflict = float(g @ g_k) < 0
        assert conflict == (rows is not None)
        expected = torch.as_tensor(project2cone2(g_k[None].numpy(), g.numpy(), margin, eps)[1]) if conflict else g
        torch.testing.assert_close(applied, expected, rtol=0, atol=1e-5 * float(expected.abs().max()))


@pytest.mark.parametrize("hparams", [{"lr": 0.1}, {"lr": 0.1, "margin": 0.0, "eps": 0.0}])
def test_default_is_the_official_codes_agem_projection(any_stream, monkeypatch, hparams):
    """The official S-GEM projects with A-GEM's closed form on the chosen task's memory: the
    defaults (margin 0, eps 0), never through the QP solver."""
    conflicts = 0
    solver_calls = []
    monkeypatch.setattr(gem_module, "gem_project", lambda *args, **kwargs: solver_calls.append(1))
    for twin, batch, applied, _rows, method in steps_with_constraint_rows(any_stream, hparams, monkeypatch):
        g = reference_gradient(twin, any_stream, batch.x, batch.y, batch.task_ids).double()
        g_k = min(memory_gradients(twin, any_stream, method), key=lambda m: float((method.flat.grads[1].double() - m).norm()))
        if float(g @ g_k) < 0:
            conflicts += 1
            expected = g - (g @ g_k) / (g_k @ g_k) * g_k
        else:
            expected = g
        torch.testing.assert_close(applied, expected, rtol=0, atol=2e-5 * float(expected.abs().max()))
    assert conflicts > 0 and not solver_calls
    assert method.violations[any_stream.tasks[-1].index] == conflicts
