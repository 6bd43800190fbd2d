"""Initialisation of every network against the official TensorFlow code's formulas (5e84338:
``model/model.py``'s ``weight_variable``/``bias_variable``, ``utils/resnet_utils.py``'s
``_conv``/``_fc``/``_bn``), checked statistically on layers large enough that a wrong formula
(k² instead of k, a plain instead of a truncated normal, another σ or bias) falls far outside
the tolerance; and ``init: torch`` keeps PyTorch's and torchvision's own."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from agem.networks.models import build_network

# A normal truncated at ±2σ has std σ·√(1 − 2·2·φ(2) / (2Φ(2) − 1)), φ and Φ the standard
# normal's density and distribution function.
_PHI_2 = math.exp(-2) / math.sqrt(2 * math.pi)
_MASS_2 = math.erf(2 / math.sqrt(2))
TRUNCATED_STD_FACTOR = math.sqrt(1 - 4 * _PHI_2 / _MASS_2)  # ≈ 0.880


def assert_truncated_normal(weight: torch.Tensor, std: float) -> None:
    values = weight.detach().flatten().double()
    assert values.numel() >= 100_000  # 1/√n ≈ 0.3 %: the tolerances below are ~10 standard errors
    assert float(values.abs().max()) <= 2 * std + 1e-7  # cut at two standard deviations
    assert float(values.abs().max()) > 1.95 * std  # …and reaching them
    assert float(values.mean()) == pytest.approx(0, abs=0.01 * std)
    assert float(values.std()) == pytest.approx(TRUNCATED_STD_FACTOR * std, rel=0.02)


def assert_uniform(values: torch.Tensor, bound: float, large: bool = True) -> None:
    """U(−bound, bound): within the bound, and (large layers) its extremes and std √(1/3)·bound."""
    values = values.detach().flatten().double()
    assert float(values.abs().max()) <= bound + 1e-7
    if large:
        assert float(values.abs().max()) > 0.99 * bound
        assert float(values.std()) == pytest.approx(bound / math.sqrt(3), rel=0.03)
    else:  # a few hundred values: loose, but still far from a constant or another bound
        assert float(values.abs().max()) > 0.5 * bound
        assert 0.6 < float(values.std()) / (bound / math.sqrt(3)) < 1.4


def convolutions(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def batch_norms(model: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


# --- MLP ---------------------------------------------------------------------------------------
def test_mlp_official_is_truncated_normal_01_and_bias_01():
    torch.manual_seed(0)
    model = build_network({"type": "mlp", "hidden": [256, 256]}, (784,), 10)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert_truncated_normal(linears[0].weight, 0.1)  # 784 × 256 = 200,704 weights
    for linear in linears:
        assert float(linear.weight.detach().abs().max()) <= 0.2 + 1e-7
        assert bool((linear.bias == 0.1).all())


def test_mlp_torch_init_is_nn_linears_own():
    torch.manual_seed(0)
    model = build_network({"type": "mlp", "hidden": [256], "init": "torch"}, (784,), 10)
    first = model.layers[0]
    assert_uniform(first.weight, 1 / math.sqrt(784))
    assert_uniform(first.bias, 1 / math.sqrt(784), large=False)


# --- reduced ResNet-18 (RESNET-S) ---------------------------------------------------------------
def test_reduced_resnet18_official_init():
    """Every conv U(±1/√(k·C_in)) (k the kernel side), the head U(±1/√160) with a uniform bias
    (``is_cifar``), batch norm γ 1, β 0 and moving averages from 0 (mean and variance)."""
    torch.manual_seed(0)
    model = build_network({"type": "reduced_resnet18"}, (3, 32, 32), 100)
    convs = convolutions(model)
    assert len(convs) == 1 + 16 + 3  # stem, 8 blocks × 2, 3 shortcuts
    for conv in convs:
        bound = 1 / math.sqrt(conv.kernel_size[0] * conv.in_channels)
        assert_uniform(conv.weight, bound, large=conv.weight.numel() >= 100_000)
    assert sum(conv.weight.numel() >= 100_000 for conv in convs) >= 3  # the last stage's 3×3 convs
    assert_uniform(model.head.weight, 1 / math.sqrt(160))  # 160 × 100 = 16,000 values
    assert_uniform(model.head.bias, 1 / math.sqrt(160), large=False)
    for norm in batch_norms(model):
        assert bool((norm.weight == 1).all() and (norm.bias == 0).all())
        assert bool((norm.running_mean == 0).all() and (norm.running_var == 0).all())


def test_reduced_resnet18_torch_init_keeps_pytorchs():
    torch.manual_seed(0)
    model = build_network({"type": "reduced_resnet18", "init": "torch"}, (3, 32, 32), 100)
    big = max(convolutions(model), key=lambda c: c.weight.numel())
    assert_uniform(big.weight, 1 / math.sqrt(9 * big.in_channels))  # kaiming_uniform(a=√5): fan_in = k²·C_in
    assert all(bool((norm.running_var == 1).all()) for norm in batch_norms(model))


# --- ResNet-18 (RESNET-B) and the joint-embedding head ---------------------------------------
def test_resnet18_from_scratch_official_init():
    torch.manual_seed(0)
    model = build_network({"type": "resnet18", "pretrained": "none"}, (3, 224, 224), 200)
    conv1 = model.body.conv1
    assert conv1.kernel_size == (7, 7)
    assert_uniform(conv1.weight, 1 / math.sqrt(7 * 3), large=False)  # 9,408 values
    last = model.body.layer4[1].conv2  # 512 × 512 × 3 × 3
    assert_uniform(last.weight, 1 / math.sqrt(3 * 512))
    shortcut = model.body.layer4[0].downsample[0]  # 1 × 1, 256 → 512
    assert_uniform(shortcut.weight, 1 / math.sqrt(256))
    assert_uniform(model.head.weight, 1 / math.sqrt(512))  # 512 × 200
    assert bool((model.head.bias == 0).all())  # no ``is_cifar``: the bias starts at 0
    for norm in batch_norms(model):
        assert bool((norm.weight == 1).all() and (norm.bias == 0).all() and (norm.running_var == 0).all())


def test_resnet18_torch_init_is_torchvisions():
    torch.manual_seed(0)
    model = build_network({"type": "resnet18", "init": "torch"}, (3, 224, 224), 200)
    last = model.body.layer4[1].conv2
    # torchvision: kaiming_normal_(mode='fan_out', nonlinearity='relu'): std √(2 / (k²·C_out))
    assert float(last.weight.detach().std()) == pytest.approx(math.sqrt(2 / (9 * 512)), rel=0.03)


@pytest.mark.parametrize("network", ["reduced_resnet18", "resnet18"])
def test_joint_embedding_head_official_init(network):
    """The -JE head: W (A × 512) truncated normal σ 0.1, b 0.1 (``get_attribute_embedding``,
    ``attr_embed_b``), whatever the body."""
    torch.manual_seed(0)
    attributes = torch.rand(200, 312)
    spec = {"type": network, "head": "joint_embedding", **({"nf": 64} if network == "reduced_resnet18" else {})}
    model = build_network(spec, (3, 32, 32), 200, class_attributes=attributes)
    assert model.head.embed.weight.shape == (512, 312)
    assert_truncated_normal(model.head.embed.weight, 0.1)  # 159,744 values
    assert bool((model.head.bias == 0.1).all())
    torch_init = build_network({**spec, "init": "torch"}, (3, 32, 32), 200, class_attributes=attributes)
    assert bool((torch_init.head.bias == 0).all())
    assert_uniform(torch_init.head.embed.weight, 1 / math.sqrt(312))


def test_unknown_init_is_refused_by_name():
    for network, shape in [("mlp", (784,)), ("reduced_resnet18", (3, 32, 32)), ("resnet18", (3, 32, 32))]:
        with pytest.raises(ValueError, match=f"network {network}: init must be one of \\['official', 'torch'\\], got 'xavier'"):
            build_network({"type": network, "init": "xavier"}, shape, 10)
    with pytest.raises(ValueError, match="batch_norm_statistics must be one of"):
        build_network({"type": "resnet18", "batch_norm_statistics": "imagenet"}, (3, 32, 32), 10)
