"""The MLP's hand-written gradients (agem.methods.mlp_gradients) against autograd, bit for bit,
and the factored inner product against the flat one; methods on it against methods on autograd."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from agem.methods import METHODS, make_hyperparameters
from agem.methods.flat import FlatParameters
from agem.methods.mlp_gradients import (
    DECISION_MARGIN,
    Factors,
    hand_written_gradients,
    inner_product,
    surely_non_negative,
)
from agem.networks.models import MLP
from helpers.methods import task_batches, tiny_stream


def mlp_and_gradients(n_inputs: int, hidden: list[int], n_outputs: int, rows: int = 2, seed: int = 0):
    torch.manual_seed(seed)
    model = MLP(n_inputs, hidden, n_outputs)
    flat = FlatParameters(model, grad_rows=rows)
    gradients = hand_written_gradients(model, flat)
    assert gradients is not None
    return model, flat, gradients


def autograd_row(model, flat, x, y, blocked) -> tuple[torch.Tensor, torch.Tensor]:
    logits = model(x)
    if blocked is not None:
        logits = logits.masked_fill(blocked, -1e10)
    loss = F.cross_entropy(logits, y)
    return flat.backward_into(0, loss).clone(), loss.detach()


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def threads(request):
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    "hidden, batch, masked",
    [([256, 256], 10, False), ([256, 256], 256, False), ([256, 256], 250, True), ([7], 5, True), ([], 3, False)],
)
@pytest.mark.parametrize("row", [1, 3])  # rows at different alignments of the gradient matrix
def test_written_gradient_is_autograds_bit_for_bit(hidden, batch, masked, row, threads):
    n_inputs, n_outputs = (784, 10) if hidden == [256, 256] else (6, 4)
    model, flat, gradients = mlp_and_gradients(n_inputs, hidden, n_outputs, rows=4)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(batch, n_inputs, generator=generator)
    y = torch.randint(0, n_outputs // 2 if masked else n_outputs, (batch,), generator=generator)
    blocked = None
    if masked:  # the upper half of the outputs belongs to another task
        blocked = torch.zeros(batch, n_outputs, dtype=torch.bool)
        blocked[:, n_outputs // 2 :] = True
    expected, expected_loss = autograd_row(model, flat, x, y, blocked)
    flat.grads[row].fill_(float("nan"))
    factors = gradients.factors(x, y, blocked)
    written = gradients.write(factors, row)
    assert written.data_ptr() == flat.grads[row].data_ptr()
    assert torch.equal(written, expected)
    assert torch.equal(factors.loss, expected_loss)


def test_rows_follow_a_regrown_gradient_matrix():
    model, flat, gradients = mlp_and_gradients(6, [5], 3, rows=1)
    x, y = torch.randn(4, 6), torch.tensor([0, 1, 2, 0])
    gradients.write(gradients.factors(x, y, None), 0)
    flat.ensure_grad_rows(3)  # GEM grows the matrix when a task is added
    row = gradients.write(gradients.factors(x, y, None), 2)
    assert torch.equal(flat.grads[2], row) and torch.equal(flat.grads[2], flat.grads[0])


def test_inner_product_is_the_flat_dot_product_and_bounds_its_terms():
    model, flat, gradients = mlp_and_gradients(20, [16, 12], 5)
    generator = torch.Generator().manual_seed(3)
    xa, ya = torch.randn(4, 20, generator=generator), torch.randint(0, 5, (4,), generator=generator)
    xb, yb = torch.randn(9, 20, generator=generator), torch.randint(0, 5, (9,), generator=generator)
    a, b = gradients.factors(xa, ya, None), gradients.factors(xb, yb, None)
    ga = gradients.write(a, 0).double()
    gb = gradients.write(b, 1).double()
    value, scale = inner_product(a, b)
    assert value == pytest.approx(float(ga @ gb), rel=1e-5, abs=1e-7)
    assert scale >= float((ga * gb).abs().sum())
    assert inner_product(a, a)[0] == pytest.approx(float(ga @ ga), rel=1e-5)


def test_surely_non_negative_decides_only_outside_the_rounding_margin():
    model, flat, gradients = mlp_and_gradients(8, [6], 3)
    x, y = torch.randn(5, 8), torch.tensor([0, 1, 2, 0, 1])
    a = gradients.factors(x, y, None)
    assert surely_non_negative(a, a)  # ‖g‖² > 0
    opposite = type(a)(a.inputs, [-d for d in a.deltas], a.loss)
    assert not surely_non_negative(a, opposite)  # −‖g‖²
    # A product of exactly zero (orthogonal gradients) is left to the flat product.
    zero = type(a)(a.inputs, [torch.zeros_like(d) for d in a.deltas], a.loss)
    assert not surely_non_negative(a, zero)
    value, scale = inner_product(a, a)
    assert value > DECISION_MARGIN * scale


def test_only_a_plain_mlp_with_its_own_parameter_order_gets_written_gradients():
    model = MLP(6, [5], 3)
    assert hand_written_gradients(model, FlatParameters(model)) is not None
    hooked = MLP(6, [5], 3)
    hooked.layers[0].register_forward_hook(lambda *args: None)
    assert hand_written_gradients(hooked, FlatParameters(hooked)) is None
    frozen = MLP(6, [5], 3)
    frozen.layers[0].bias.requires_grad_(False)
    assert hand_written_gradients(frozen, FlatParameters(frozen)) is None
    other = nn.Sequential(nn.Linear(6, 3))
    assert hand_written_gradients(other, FlatParameters(other)) is None

    class Subclass(MLP):
        def forward(self, x):
            return 2 * super().forward(x)

    subclass = Subclass(6, [5], 3)
    assert hand_written_gradients(subclass, FlatParameters(subclass)) is None


METHOD_HPARAMS = {
    "van": {"lr": 0.1},
    "agem": {"lr": 0.3, "ref_batch_size": 6},
    "gem": {"lr": 0.3},
    "sgem": {"lr": 0.3},
    "er": {"lr": 0.1},
    "ewc": {"lr": 0.1, "lam": 1.0},
    "rwalk": {"lr": 0.1},
}


def small_mlp_method(stream, name: str, written: bool = True):
    """``name`` on a 4-8-outputs MLP with 5 memories per task; ``written=False``: on autograd."""
    torch.manual_seed(0)
    model = MLP(4, [8], stream.n_outputs)
    method = METHODS[name](model, stream, make_hyperparameters(name, METHOD_HPARAMS[name]), 5, torch.Generator().manual_seed(0))
    assert method.gradients is not None
    if not written:
        method.gradients = None
    return method


def train_tasks(method, tasks) -> None:
    """Every training example of each task, in batches of 5, as the training loop hands them."""
    for task in tasks:
        method.begin_task(task)
        for batch in task_batches(task, 5):
            method.observe(batch)
        method.end_task(task)


def train_three_tasks(stream, name: str, written: bool) -> tuple[torch.Tensor, dict]:
    method = small_mlp_method(stream, name, written)
    train_tasks(method, stream.tasks)
    return method.flat.values.clone(), dict(method.violations)


@pytest.mark.parametrize("shared_head", [True, False])
@pytest.mark.parametrize("name", sorted(METHOD_HPARAMS))
def test_methods_take_the_same_steps_as_on_autograd(tmp_path, name, shared_head, threads):
    stream = tiny_stream(tmp_path / "s.h5", n_tasks=3, n_train=40, n_inputs=4, shared_head=shared_head)
    written_values, written_violations = train_three_tasks(stream, name, written=True)
    autograd_values, autograd_violations = train_three_tasks(stream, name, written=False)
    assert torch.equal(written_values, autograd_values)
    assert written_violations == autograd_violations
    if name in ("agem", "gem", "sgem"):  # the test means nothing if no step ever projects
        assert sum(autograd_violations.values()) > 0


def test_agem_forms_g_ref_only_when_the_step_may_conflict(tmp_path):
    stream = tiny_stream(tmp_path / "s.h5", n_tasks=2, n_train=40, n_inputs=4)
    method = small_mlp_method(stream, "agem")
    first, second = stream.tasks
    train_tasks(method, [first])
    method.begin_task(second)
    formed = skipped = 0
    for batch in task_batches(second, 5):
        method.flat.grads[1].fill_(float("nan"))
        before = method.violations[second.index]
        generator_state = method.generator.get_state()
        x_ref, y_ref, ids_ref = method.memory.sample(METHOD_HPARAMS["agem"]["ref_batch_size"])
        method.generator.set_state(generator_state)
        current = method.gradient_factors(batch.x, batch.y, batch.task_ids)
        reference = method.gradient_factors(x_ref, y_ref, ids_ref)
        conflict_possible = not surely_non_negative(current, reference)
        method.observe(batch)
        if conflict_possible:
            formed += 1
            assert not torch.isnan(method.flat.grads[1]).any()
        else:
            skipped += 1
            assert torch.isnan(method.flat.grads[1]).all()
            assert method.violations[second.index] == before
    assert formed > 0 and skipped > 0


def test_multitask_with_its_own_loss_stays_on_autograd(tmp_path):
    stream = tiny_stream(tmp_path / "s.h5", n_tasks=2, n_train=10, n_inputs=4)
    model = MLP(4, [3], stream.n_outputs)
    method = METHODS["multitask"](model, stream, make_hyperparameters("multitask", {}), 0, torch.Generator().manual_seed(0))
    assert method.gradients is None


def test_gem_with_memories_of_different_sizes_takes_the_same_steps(tmp_path):
    stream = tiny_stream(tmp_path / "s.h5", n_tasks=3, n_train=40, n_inputs=4)
    results = []
    for written in (True, False):
        method = small_mlp_method(stream, "gem", written)
        *past, last = stream.tasks
        train_tasks(method, past)
        memory = method.memory  # drop one example of the first task's memory
        memory.x, memory.y, memory.task_ids = memory.x[1:], memory.y[1:], memory.task_ids[1:]
        memory._task_slices = [(i, slice(max(s.start - 1, 0), s.stop - 1)) for i, s in memory._task_slices]
        assert len({len(y) for _, y, _ in memory.per_task()}) == 2
        train_tasks(method, [last])
        results.append((method.flat.values.clone(), dict(method.violations)))
    assert torch.equal(results[0][0], results[1][0]) and results[0][1] == results[1][1]
    assert results[1][1][last.index] > 0


def one_layer_factors(deltas: list[list[float]], inputs: list[list[float]]) -> Factors:
    return Factors([torch.tensor(inputs)], [torch.tensor(deltas)], torch.zeros(()))


@pytest.mark.parametrize("delta, sure", [(0.0, False), (1e-6, False), (1e-2, True), (-1e-2, False)])
def test_the_margin_by_hand(delta, sure):
    """One linear layer, one example, one input 1: ∂W_a = [1, 0]ᵀ, ∂W_b = [δ, 1]ᵀ, biases alike, so
    ⟨∂θ_a, ∂θ_b⟩ = 2δ and the bound is 2·√(1 + δ²); sure only when 2δ > 1e-4 · 2√(1 + δ²)."""
    a = one_layer_factors([[1.0, 0.0]], [[1.0]])
    b = one_layer_factors([[delta, 1.0]], [[1.0]])
    value, scale = inner_product(a, b)
    assert value == pytest.approx(2 * delta, rel=1e-6, abs=1e-12)  # float32 factors
    assert scale == pytest.approx(2 * (1 + delta**2) ** 0.5, rel=1e-6)
    assert DECISION_MARGIN == 1e-4
    assert surely_non_negative(a, b) is sure


def test_the_bound_is_the_norms_product_of_every_layer():
    """Σ_l ‖D_a‖‖A_a‖‖D_b‖‖A_b‖ + ‖Σ_r D_a‖‖Σ_r D_b‖, computed by hand in float64 for two layers."""
    generator = torch.Generator().manual_seed(7)
    shapes = [(3, 5, 4), (3, 4, 2)]  # rows, fan_in, fan_out per layer (a has 3 rows, b has 2)
    a = Factors([torch.randn(3, i, generator=generator) for _, i, _ in shapes], [torch.randn(3, o, generator=generator) for _, _, o in shapes], torch.zeros(()))
    b = Factors([torch.randn(2, i, generator=generator) for _, i, _ in shapes], [torch.randn(2, o, generator=generator) for _, _, o in shapes], torch.zeros(()))
    def norm(t):
        return float(t.double().pow(2).sum().sqrt())

    expected = 0.0
    for layer in range(2):
        expected += norm(a.deltas[layer]) * norm(a.inputs[layer]) * norm(b.deltas[layer]) * norm(b.inputs[layer])
        expected += norm(a.deltas[layer].sum(0)) * norm(b.deltas[layer].sum(0))
    assert inner_product(a, b)[1] == pytest.approx(expected, rel=1e-5)
