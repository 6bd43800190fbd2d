"""ER (agem.methods.er): each step is one SGD step on the mean loss of the current batch joined
with an equally large batch drawn from the episodic memory, checked against plain autograd on a
separate copy of the network (helpers.references), with each example under its own task's mask."""

import torch

from helpers.references import reference_gradient, restricted_loss, task_classes
from helpers.training import _train_past_tasks, batches, copy_of, make_method, parameters


def recorded_samples(method) -> list:
    """Wrap ``method.memory.sample`` so the test sees every memory batch the method drew."""
    drawn = []
    real_sample = method.memory.sample

    def recording_sample(n):
        drawn.append((n, *real_sample(n)))
        return drawn[-1][1:]

    method.memory.sample = recording_sample
    return drawn


def test_first_task_is_plain_sgd_on_the_batch(any_stream):
    model, method = make_method(any_stream, "er", {"lr": 0.1})
    drawn = recorded_samples(method)
    task = any_stream.tasks[0]
    method.begin_task(task)
    for batch in batches(task, 3):
        twin, before = copy_of(model), parameters(model)
        method.observe(batch)
        expected = reference_gradient(twin, any_stream, batch.x, batch.y, batch.task_ids)
        torch.testing.assert_close((before - parameters(model)) / 0.1, expected, rtol=0, atol=1e-5 * float(expected.abs().max()))
    assert drawn == []  # nothing stored yet, nothing replayed


def test_step_is_sgd_on_the_joint_batch_with_an_equal_memory_batch(any_stream):
    lr = 0.1
    model, method = make_method(any_stream, "er", {"lr": lr}, memory=20)
    *past, current = any_stream.tasks
    _train_past_tasks(method, past)
    drawn = recorded_samples(method)
    stored = {tuple(row.tolist()) for row in method.memory.x.flatten(1)}
    method.begin_task(current)
    for batch in batches(current, 8):
        twin, before = copy_of(model), parameters(model)
        loss = method.observe(batch)
        n, x_mem, y_mem, ids_mem = drawn[-1]
        assert n == len(x_mem) == len(batch.y) == 10  # as many memory examples as current ones
        assert {tuple(row.tolist()) for row in x_mem.flatten(1)} <= stored  # drawn from the memory
        assert set(ids_mem.tolist()) <= {t.index for t in past}
        x, y, ids = torch.cat([batch.x, x_mem]), torch.cat([batch.y, y_mem]), torch.cat([batch.task_ids, ids_mem])
        expected = reference_gradient(twin, any_stream, x, y, ids)
        torch.testing.assert_close((before - parameters(model)) / lr, expected, rtol=0, atol=1e-5 * float(expected.abs().max()))
        expected_loss = restricted_loss(twin(x), y, task_classes(any_stream, ids))
        torch.testing.assert_close(loss, expected_loss.detach(), rtol=1e-5, atol=0)
    assert len(drawn) == 8


def test_memory_has_agems_budget_and_is_counted(any_stream):
    _, er = make_method(any_stream, "er", {"lr": 0.1}, memory=20)
    _, agem = make_method(any_stream, "agem", {"lr": 0.1}, memory=20)
    for method in (er, agem):
        _train_past_tasks(method, any_stream.tasks[:2])
    assert len(er.memory) == len(agem.memory) == 2 * 20
    assert er.state_bytes() == er.flat.nbytes + er.memory.nbytes > er.flat.nbytes
