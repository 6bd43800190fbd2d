"""PROG-NN (agem.methods.prognn, agem.networks.progressive): earlier tasks' accuracies bit-identical on
later tasks (forgetting exactly 0), frozen columns, and the lateral connections by hand, for the
MLP and for the ResNets (1×1 convolution laterals, batch norm of frozen columns untouched)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision

from agem.data.streams import load_stream
from agem.methods import METHODS, Batch, make_hyperparameters
from agem.networks.models import BasicBlock, build_network
from agem.networks.progressive import residual_pre_activation
from agem.runs.metrics import forgetting_per_task
from agem.training.evaluation import accuracy
from agem.training.loop import train_run
from agem.training.settings import TrainSettings
from helpers.streams import SMALL_MLP, class_task, handmade_raw, write_handmade
from helpers.training import batches, make_method


def test_earlier_tasks_accuracies_are_bit_identical_and_forgetting_is_zero(any_stream):
    record = train_run(any_stream, "prognn", {"lr": 0.1}, SMALL_MLP, 10, TrainSettings(), 3, log=lambda line: None)
    acc = record.acc_final
    for j in range(record.n_tasks):
        assert all(acc[k, j] == acc[j, j] for k in range(j, record.n_tasks))  # exact, not approximate
    assert np.all(forgetting_per_task(acc)[1:] == 0)
    assert acc[-1, -1] > 0.5  # the newest column learns its task


def column_parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_only_the_newest_column_and_its_adapters_train(permuted_stream):
    _, method = make_method(permuted_stream, "prognn", {"lr": 0.1})
    network = method.model
    column_size = column_parameter_count(network.columns[0])
    adapter_size = column_size  # MLP adapters mirror every layer: same shapes as a column
    snapshots = []
    for k, task in enumerate(permuted_stream.tasks):
        method.begin_task(task)
        assert network.n_columns == k + 1 and method.flat.size == column_size + k * adapter_size
        trainable = {id(p) for p in network.parameters() if p.requires_grad}
        newest = {id(p) for p in [*network.columns[k].parameters(), *network.adapters[k].parameters()]}
        assert trainable == newest
        assert all(p.grad is None for p in network.parameters() if not p.requires_grad)
        for batch in batches(task, 5):
            method.observe(batch)
        method.end_task(task)
        for earlier, state in enumerate(snapshots):  # frozen columns and adapters: bitwise unchanged
            now = [p.detach().clone() for p in [*network.columns[earlier].parameters(), *network.adapters[earlier].parameters()]]
            assert all(torch.equal(a, b) for a, b in zip(state, now))
        snapshots.append([p.detach().clone() for p in [*network.columns[k].parameters(), *network.adapters[k].parameters()]])


def test_laterals_by_hand(permuted_stream):
    """Column k, one hidden layer: h_k = ReLU(W_k x + b_k + Σ_{j<k} (U_kj x + c_kj)),
    logits_k = V_k h_k + d_k + Σ_{j<k} (U'_kj h_j + c'_kj) (official ``extensible_fc_column_progNN``)."""
    _, method = make_method(permuted_stream, "prognn", {"lr": 0.1})
    for task in permuted_stream.tasks[:3]:
        method.begin_task(task)
    network = method.model
    x, _ = permuted_stream.tasks[0].train_batch(torch.arange(7))

    def affine(layer, h):
        return h @ layer.weight.T + layer.bias

    hidden = []
    for k in range(3):
        first, last = network.columns[k].layers[0], network.columns[k].layers[2]
        h = torch.relu(affine(first, x) + sum((affine(network.adapters[k][0][j], x) for j in range(k)), torch.zeros(())))
        logits = affine(last, h) + sum((affine(network.adapters[k][1][j], hidden[j]) for j in range(k)), torch.zeros(()))
        hidden.append(h)
        torch.testing.assert_close(network(x, column=k), logits)
    torch.testing.assert_close(network(x), logits)  # forward: the newest column


def test_prediction_routes_each_example_to_its_tasks_column(split_stream):
    _, method = make_method(split_stream, "prognn", {"lr": 0.1})
    for task in split_stream.tasks:
        method.begin_task(task)
    x = torch.cat([t.train_batch(torch.arange(4))[0] for t in split_stream.tasks])
    ids = torch.repeat_interleave(torch.tensor([t.index for t in split_stream.tasks]), 4)
    with torch.no_grad():
        scores = method.predict(x, ids)
        for k, task in enumerate(split_stream.tasks):
            rows = ids == task.index
            own = method.model(x[rows], column=k)[:, task.classes]
            torch.testing.assert_close(scores[rows][:, task.classes], own)
            assert bool((scores[rows].argmax(1).unsqueeze(1) == task.classes).any(1).all())


# --- ResNets ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def image_stream(tmp_path_factory):
    """3 tasks × 2 classes of random 3×8×8 images (multi-head)."""
    rng = np.random.default_rng(0)
    raw = handmade_raw(rng.integers(0, 6, 120), rng.integers(0, 6, 60), shape=(3, 8, 8))
    tasks = [class_task("eval", [2 * k, 2 * k + 1], raw) for k in range(3)]
    return load_stream(write_handmade(tmp_path_factory.mktemp("images") / "images.h5", raw, tasks, "split", 6))


def resnet_method(stream, spec):
    torch.manual_seed(0)
    model = build_network(spec, stream.input_shape, stream.n_outputs)
    return METHODS["prognn"](model, stream, make_hyperparameters("prognn", {"lr": 0.05}), 10, torch.Generator().manual_seed(0))


def train_task(method, task, steps: int = 3):
    method.begin_task(task)
    for b in range(steps):
        positions = torch.arange(b * 8, (b + 1) * 8) % task.n_train
        x, y = task.train_batch(positions)
        method.observe(Batch(x, y, torch.full_like(y, task.index)))
    method.end_task(task)


def test_resnet_columns_keep_earlier_tasks_bit_identical(image_stream):
    method = resnet_method(image_stream, {"type": "reduced_resnet18", "nf": 4})
    predictions, bn_states = {}, {}
    for k, task in enumerate(image_stream.tasks):
        train_task(method, task)
        column = method.model.columns[k]
        bn_states[k] = {name: b.clone() for name, b in column.named_buffers()}
        with torch.no_grad():
            method.model.eval()
            predictions[k] = [method.predict(x, torch.full((len(x),), task.index)) for x, _ in task.test_batches(7)]
            method.model.train()
        for j in range(k):
            earlier = image_stream.tasks[j]
            with torch.no_grad():
                method.model.eval()
                again = [method.predict(x, torch.full((len(x),), earlier.index)) for x, _ in earlier.test_batches(7)]
                method.model.train()
            assert all(torch.equal(a, b) for a, b in zip(predictions[j], again))
            assert all(torch.equal(b, bn_states[j][name]) for name, b in method.model.columns[j].named_buffers())
        assert accuracy(method, task, 64) >= 0  # the loop's evaluation path runs
    adapters = method.model.adapters[2]
    assert isinstance(adapters[1][0], torch.nn.Conv2d) and adapters[1][0].kernel_size == (1, 1)
    assert [a[0].stride for a in list(adapters)[:5]] == [(1, 1), (1, 1), (2, 2), (2, 2), (2, 2)]


def test_residual_pre_activation_is_the_block_before_its_relu():
    torch.manual_seed(0)
    blocks = [BasicBlock(4, 4), BasicBlock(4, 8, stride=2), torchvision.models.resnet.BasicBlock(4, 4)]
    downsample = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 1, stride=2, bias=False), torch.nn.BatchNorm2d(8))
    blocks.append(torchvision.models.resnet.BasicBlock(4, 8, stride=2, downsample=downsample))
    x = torch.randn(2, 4, 6, 6)
    for block in blocks:
        block.eval()
        torch.testing.assert_close(F.relu(residual_pre_activation(block, x)), block(x))


def test_torchvision_resnet18_columns_restart_from_the_first_columns_initial_weights(image_stream):
    method = resnet_method(image_stream, {"type": "resnet18", "pretrained": "none"})
    first, second = image_stream.tasks[:2]
    initial = {name: v.clone() for name, v in method.model.columns[0].state_dict().items()}
    train_task(method, first, steps=1)
    method.begin_task(second)
    fresh = method.model.columns[1].state_dict()
    assert all(torch.equal(fresh[name], value) for name, value in initial.items())
    x, _ = next(first.test_batches(4))
    with torch.no_grad():
        method.model.eval()
        before = method.predict(x, torch.full((len(x),), first.index))
        method.model.train()
    train_task(method, second, steps=1)
    with torch.no_grad():
        method.model.eval()
        assert torch.equal(method.predict(x, torch.full((len(x),), first.index)), before)
