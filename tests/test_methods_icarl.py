"""iCaRL (agem.methods.icarl): herding against a brute-force herding, the exemplar budget, the
nearest-mean-of-exemplars classifier and the distillation loss against hand computations."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from agem.methods.icarl import herding_selection
from helpers.training import _train_past_tasks, batches, make_method


def brute_force_herding(features: np.ndarray, count: int) -> list[int]:
    """iCaRL's Alg. 4 with explicit loops in float64: at step k try every unchosen example."""
    mean = features.mean(axis=0)
    chosen: list[int] = []
    for k in range(1, count + 1):
        best, best_distance = None, np.inf
        for candidate in range(len(features)):
            if candidate in chosen:
                continue
            running_mean = (features[chosen].sum(axis=0) + features[candidate]) / k
            distance = np.sqrt(((mean - running_mean) ** 2).sum())
            if distance < best_distance:
                best, best_distance = candidate, distance
        chosen.append(best)
    return chosen


@pytest.mark.parametrize("seed", range(5))
def test_herding_picks_what_brute_force_herding_picks(seed):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(17, 5))
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    count = 9
    assert herding_selection(torch.tensor(features), count).tolist() == brute_force_herding(features, count)
    assert herding_selection(torch.tensor(features), 40).tolist() == brute_force_herding(features, 17)  # all, once each


def hidden_features(model, x: torch.Tensor) -> torch.Tensor:
    """The 64-32-10 MLP's hidden ReLU layer, by hand, L2-normalised."""
    first = model.layers[0]
    return F.normalize(torch.relu(x.flatten(1) @ first.weight.T + first.bias), dim=1).detach()


def test_exemplars_are_each_classs_herding_choice_within_agems_budget(any_stream):
    model, method = make_method(any_stream, "icarl", {"lr": 0.1}, memory=20)
    for k, task in enumerate(any_stream.tasks, start=1):
        _train_past_tasks(method, [task], steps=4)
        assert len(method.memory) == 20 * k  # A-GEM's budget: memory_per_task per task
        x_all, y_all = task.train_batch(torch.arange(task.n_train))
        stored_x, stored_y, stored_ids = (t[-20:] for t in (method.memory.x, method.memory.y, method.memory.task_ids))
        assert bool((stored_ids == task.index).all())
        features = hidden_features(model, x_all).double().numpy()
        for c in torch.unique(y_all).tolist():
            of_class = torch.nonzero(y_all == c).flatten()
            quota = int((stored_y == c).sum())
            expected = of_class[brute_force_herding(features[of_class], quota)]
            assert torch.equal(stored_x[stored_y == c], x_all[expected])
        assert sorted(torch.unique(stored_y).tolist()) == sorted(task.classes.tolist())


def test_prediction_is_the_nearest_mean_of_exemplars(any_stream):
    model, method = make_method(any_stream, "icarl", {"lr": 0.1}, memory=20)
    *past, current = any_stream.tasks
    _train_past_tasks(method, past, steps=6)
    memory_features = hidden_features(model, method.memory.x)
    means = {c: F.normalize(memory_features[method.memory.y == c].mean(0), dim=0) for c in torch.unique(method.memory.y).tolist()}
    model.eval()
    for task in past:
        x, _ = next(task.test_batches(1000))
        ids = torch.full((len(x),), task.index)
        classes = task.classes.tolist()
        distances = torch.stack([(hidden_features(model, x) - means[c]).norm(dim=1) for c in classes], dim=1)
        expected = torch.tensor(classes)[distances.argmin(1)]
        assert torch.equal(method.predict(x, ids).argmax(1), expected)
    # The current task's classes have no exemplars yet on split streams: the network decides.
    method.begin_task(current)
    x, _ = next(current.test_batches(1000))
    ids = torch.full((len(x),), current.index)
    scores = method.predict(x, ids)
    if any_stream.output_masks is not None:
        outputs = current.classes
        assert torch.equal(scores.argmax(1), outputs[model(x)[:, outputs].argmax(1)])


def test_loss_is_bce_with_one_hot_current_and_distilled_old_outputs(any_stream):
    """replay_batch_size ≥ memory: every step trains on the batch plus the whole memory."""
    model, method = make_method(any_stream, "icarl", {"lr": 0.1, "replay_batch_size": 1000}, memory=20)
    *past, current = any_stream.tasks
    _train_past_tasks(method, past, steps=4)
    previous = method.previous_model
    method.begin_task(current)
    seen = torch.zeros(any_stream.n_outputs, dtype=torch.bool)
    for task in any_stream.tasks:
        seen[task.classes] = True
    old = seen.clone()
    old[current.classes] = False  # empty with one shared head: nothing to distil
    assert bool(old.any()) == (any_stream.output_masks is not None)
    for batch in batches(current, 3):
        x = torch.cat([batch.x, method.memory.x])
        y = torch.cat([batch.y, method.memory.y])
        with torch.no_grad():
            targets = F.one_hot(y, any_stream.n_outputs).double()
            targets[:, old] = torch.sigmoid(previous(x)[:, old]).double()
            p = torch.sigmoid(model(x).double())
            expected = -(targets * torch.log(p) + (1 - targets) * torch.log(1 - p))[:, seen].sum() / len(x)
        assert float(method.observe(batch)) == pytest.approx(float(expected), rel=1e-5)


def test_step_is_sgd_on_classification_plus_distillation_by_autograd(any_stream):
    """One step = SGD on iCaRL's loss computed here on a copy of the network with plain autograd:
    BCE over the seen outputs of (batch + whole memory), one-hot targets on the current task's
    outputs, the previous network's sigmoid outputs on the earlier ones. The parameters move."""
    from helpers.training import copy_of, parameters

    lr = 0.1
    model, method = make_method(any_stream, "icarl", {"lr": lr, "replay_batch_size": 1000}, memory=20)
    *past, current = any_stream.tasks
    _train_past_tasks(method, past, steps=4)
    previous = copy_of(method.previous_model)
    method.begin_task(current)
    seen = torch.zeros(any_stream.n_outputs, dtype=torch.bool)
    for task in any_stream.tasks:
        seen[task.classes] = True
    old = seen.clone()
    old[current.classes] = False
    for batch in batches(current, 3):
        twin, before = copy_of(model), parameters(model)
        x = torch.cat([batch.x, method.memory.x])
        y = torch.cat([batch.y, method.memory.y])
        targets = F.one_hot(y, any_stream.n_outputs).float()
        with torch.no_grad():
            targets[:, old] = torch.sigmoid(previous(x)[:, old])
        logits = twin(x)[:, seen]
        p = torch.sigmoid(logits)
        t = targets[:, seen]
        loss = -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).sum() / len(x)
        grads = torch.autograd.grad(loss, list(twin.parameters()))
        expected = before - lr * torch.cat([g.flatten() for g in grads])
        method.observe(batch)
        after = parameters(model)
        assert float((after - before).abs().max()) > 1e-4  # the step changes the network
        torch.testing.assert_close(after, expected, rtol=1e-5, atol=1e-6)
