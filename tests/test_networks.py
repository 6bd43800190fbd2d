"""The paper's networks (docs/decisions.md#networks): forward shapes, parameter counts computed
independently, batch-norm settings, no max-pool, the joint-embedding head, and the ImageNet
weights through torchvision's cache (offline: a clear error naming where to place the file)."""

from __future__ import annotations

import urllib.error

import pytest
import torch
from torch import nn

from agem.networks.models import (
    BasicBlock,
    JointEmbeddingHead,
    PretrainedWeightsMissing,
    ReducedResNet18,
    ResNet18,
    build_network,
    hidden_units,
    imagenet_weights_file,
)


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def basic_block_parameters(c_in: int, c_out: int, stride: int) -> int:
    convs = 9 * c_in * c_out + 9 * c_out * c_out
    batch_norms = 2 * 2 * c_out
    shortcut = c_in * c_out + 2 * c_out if (stride != 1 or c_in != c_out) else 0
    return convs + batch_norms + shortcut


def test_mlp_784_256_256_10():
    model = build_network({"type": "mlp", "hidden": [256, 256]}, (784,), 10)
    assert model(torch.zeros(7, 784)).shape == (7, 10)
    assert n_parameters(model) == 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10


def test_reduced_resnet18_shapes_and_parameter_count():
    model = build_network({"type": "reduced_resnet18"}, (3, 32, 32), 100)
    assert isinstance(model, ReducedResNet18)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 100)
    assert model.features(torch.zeros(2, 3, 32, 32)).shape == (2, 160)
    nf = 20
    expected = 9 * 3 * nf + 2 * nf  # conv1 + bn1
    c_in = nf
    for width, stride in zip([nf, 2 * nf, 4 * nf, 8 * nf], [1, 2, 2, 2]):
        expected += basic_block_parameters(c_in, width, stride) + basic_block_parameters(width, width, 1)
        c_in = width
    expected += 8 * nf * 100 + 100
    assert n_parameters(model) == expected == 1_109_240  # GEM's ResNet18(100, nf=20): ≈ 1.1 M
    assert sum(isinstance(m, BasicBlock) for m in model.modules()) == 8
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    # the stage outputs: 32 → 32 → 16 → 8 → 4
    out = model.stem(torch.zeros(1, 3, 32, 32))
    sizes = []
    for stage in model.stages:
        out = stage(out)
        sizes.append(tuple(out.shape[1:]))
    assert sizes == [(20, 32, 32), (40, 16, 16), (80, 8, 8), (160, 4, 4)]


@pytest.mark.parametrize("spec, shape", [({"type": "reduced_resnet18"}, (3, 32, 32)), ({"type": "resnet18"}, (3, 64, 64))])
def test_batch_norm_eps_and_momentum(spec, shape):
    norms = [m for m in build_network(spec, shape, 10).modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.eps == 1e-3 and m.momentum == 0.1 for m in norms)


def test_resnet18_without_max_pool():
    model = build_network({"type": "resnet18", "pretrained": "none"}, (3, 224, 224), 200)
    assert isinstance(model, ResNet18) and isinstance(model.body.maxpool, nn.Identity)
    assert model(torch.zeros(2, 3, 224, 224)).shape == (2, 200)
    assert model.features(torch.zeros(1, 3, 224, 224)).shape == (1, 512)
    # without the max-pool, layer4 sees 14×14 maps at 224×224 instead of 7×7
    maps = []
    model.body.layer4.register_forward_hook(lambda _m, _i, out: maps.append(out.shape))
    model(torch.zeros(1, 3, 224, 224))
    assert tuple(maps[0]) == (1, 512, 14, 14)
    # torchvision's ResNet-18 body (11,176,512 parameters) plus a 512 → 200 layer
    assert n_parameters(model) == 11_176_512 + 512 * 200 + 200


def test_joint_embedding_head_computes_phi_times_aW_plus_b():
    attributes = torch.nn.functional.normalize(torch.rand(30, 7), dim=1)
    model = build_network({"type": "reduced_resnet18", "nf": 4, "head": "joint_embedding"}, (3, 16, 16), 30, class_attributes=attributes)
    head = model.head
    assert isinstance(head, JointEmbeddingHead) and not head.attributes.requires_grad
    assert head.embed.weight.shape == (32, 7) and head.bias.shape == (30,)  # W: A × feature_dim (stored transposed)
    with torch.no_grad():
        head.bias.copy_(torch.arange(30.0))
    x = torch.rand(3, 3, 16, 16)
    phi = model.features(x)
    expected = phi @ (attributes @ head.embed.weight.T).T + head.bias
    torch.testing.assert_close(model(x), expected)
    # the attributes are data, not parameters: only W and b are added to the network
    linear = build_network({"type": "reduced_resnet18", "nf": 4}, (3, 16, 16), 30)
    assert n_parameters(model) - n_parameters(linear) == (7 * 32 + 30) - (32 * 30 + 30)


def test_joint_embedding_errors():
    with pytest.raises(ValueError, match="head 'joint_embedding' needs class attributes, but the stream has none"):
        build_network({"type": "resnet18", "head": "joint_embedding"}, (3, 32, 32), 10)
    with pytest.raises(ValueError, match="class_attributes has 5 rows, the network has 10 outputs"):
        build_network({"type": "resnet18", "head": "joint_embedding"}, (3, 32, 32), 10, class_attributes=torch.rand(5, 3))
    with pytest.raises(ValueError, match="unknown head 'cosine'"):
        build_network({"type": "reduced_resnet18", "head": "cosine"}, (3, 32, 32), 10)
    with pytest.raises(ValueError, match="network 'mlp': .*unexpected keyword argument 'head'"):
        build_network({"type": "mlp", "head": "joint_embedding"}, (784,), 10)
    with pytest.raises(ValueError, match=r"network 'resnet18' needs image inputs \[channels, height, width\]"):
        build_network({"type": "resnet18"}, (784,), 10)


def test_linear_head_ignores_class_attributes():
    model = build_network({"type": "reduced_resnet18", "nf": 4}, (3, 16, 16), 10, class_attributes=torch.rand(10, 3))
    assert isinstance(model.head, nn.Linear)


def test_imagenet_weights_come_from_torchvisions_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    placed = imagenet_weights_file()
    assert placed == tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    from torchvision.models import resnet18

    reference = resnet18(weights=None)  # stands in for the real file (no download here)
    placed.parent.mkdir(parents=True)
    with torch.no_grad():  # statistics unlike both a fresh start's (0 / 0 or 0 / 1) and each other
        reference.layer4[1].bn2.running_mean.uniform_(2, 3)
        reference.layer4[1].bn2.running_var.uniform_(4, 5)
    torch.save(reference.state_dict(), placed)
    model = build_network({"type": "resnet18", "pretrained": "imagenet", "batch_norm_statistics": "pretrained"}, (3, 32, 32), 200)
    torch.testing.assert_close(model.body.conv1.weight, reference.conv1.weight)
    torch.testing.assert_close(model.body.layer4[1].bn2.weight, reference.layer4[1].bn2.weight)
    torch.testing.assert_close(model.body.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)
    assert model.head.weight.shape == (200, 512)  # a fresh output layer, not ImageNet's
    # The default, like the official code (only trainable variables restored): the learnt
    # weights and affine parameters are ImageNet's, the running statistics start afresh.
    fresh = build_network({"type": "resnet18", "pretrained": "imagenet"}, (3, 32, 32), 200)
    torch.testing.assert_close(fresh.body.layer4[1].bn2.weight, reference.layer4[1].bn2.weight)
    torch.testing.assert_close(fresh.body.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
    assert bool((fresh.body.layer4[1].bn2.running_mean == 0).all() and (fresh.body.layer4[1].bn2.running_var == 0).all())


def test_imagenet_weights_offline_error_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(PretrainedWeightsMissing) as error:
        build_network({"type": "resnet18", "pretrained": "imagenet"}, (3, 32, 32), 10)
    message = str(error.value)
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert f"place it at {tmp_path / 'hub' / 'checkpoints' / 'resnet18-f37072fd.pth'}" in message and "pretrained: none" in message


def test_hidden_units_counts_resnet_activations():
    model = build_network({"type": "reduced_resnet18", "nf": 4}, (3, 8, 8), 10)
    assert hidden_units(model, (3, 8, 8)) > 0
