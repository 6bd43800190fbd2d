"""Networks of the paper (docs/decisions.md#networks), built by name from the config.

- ``mlp``: Permuted MNIST's 784-256-256-10.
- ``reduced_resnet18``: Split CIFAR's reduced ResNet-18 (GEM's ``ResNet18(nclasses, nf=20)``).
- ``resnet18``: Split CUB (ImageNet weights) and Split AWA (from scratch), torchvision's ResNet-18
  with the max-pool removed.

Both ResNets expose ``features(x)`` (the globally pooled features φ(x)) and a ``head``, which is
either a linear layer or the joint-embedding head of the paper's -JE variants (§5).

Every network takes ``init``: ``official`` (the default) initialises it like the official
TensorFlow code at 5e84338 (``model/model.py``'s ``weight_variable``/``bias_variable`` and
``utils/resnet_utils.py``'s ``_conv``/``_fc``/``_bn``), ``torch`` keeps PyTorch's and
torchvision's own initialisers.
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# Batch norm of the official TensorFlow code: epsilon 1e-3, moving-average decay 0.9, which is
# PyTorch's momentum 0.1 (docs/decisions.md#batch-norm).
BN_EPS, BN_MOMENTUM = 1e-3, 0.1


INITS = ("official", "torch")


def _check_init(network: str, init: str) -> None:
    if init not in INITS:
        raise ValueError(f"network {network}: init must be one of {list(INITS)}, got {init!r}")


def official_dense_(layer: nn.Linear) -> nn.Linear:
    """``weight_variable`` / ``bias_variable``: weights truncated normal (std 0.1, cut at 2σ like
    ``tf.truncated_normal_initializer``), biases 0.1 (the MLP, the -JE head's W and b)."""
    nn.init.trunc_normal_(layer.weight, std=0.1, a=-0.2, b=0.2)
    if layer.bias is not None:
        nn.init.constant_(layer.bias, 0.1)
    return layer


def official_resnet_init_(model: nn.Module, head_bias: str) -> None:
    """``resnet_utils.py``: every convolution U(±1/√(k·C_in)) with k the kernel's side (the code's
    ``n = kernel_size * in_channels``, not k²·C_in); the linear head U(±1/√fan_in), its bias
    U(±1/√fan_in) on Split CIFAR (``is_cifar``) and 0 on CUB and AWA (``head_bias``: 'uniform' or
    'zero'); batch norm γ 1, β 0, and moving averages starting at 0 (the code's
    ``ExponentialMovingAverage`` of batch moments creates zero-initialised shadows, mean *and*
    variance). A joint-embedding head is left to :class:`JointEmbeddingHead`."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            bound = 1 / math.sqrt(module.kernel_size[0] * module.in_channels)
            nn.init.uniform_(module.weight, -bound, bound)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
            zero_running_statistics_(module)
    head = getattr(model, "head", None)
    if isinstance(head, nn.Linear):
        bound = 1 / math.sqrt(head.in_features)
        nn.init.uniform_(head.weight, -bound, bound)
        if head_bias == "uniform":
            nn.init.uniform_(head.bias, -bound, bound)
        else:
            nn.init.zeros_(head.bias)


def zero_running_statistics_(norm: nn.BatchNorm2d) -> None:
    norm.running_mean.zero_()
    norm.running_var.zero_()
    norm.num_batches_tracked.zero_()


class PretrainedWeightsMissing(RuntimeError):
    """ImageNet weights could neither be found in torchvision's cache nor downloaded."""


class MLP(nn.Module):
    """Fully connected ReLU network (Permuted MNIST: 784-256-256-10).

    ``init='official'``: like the official TensorFlow code, weights from a normal with std 0.1
    truncated at two standard deviations, biases 0.1; ``'torch'``: nn.Linear's own.
    """

    def __init__(self, n_inputs: int, hidden: list[int], n_outputs: int, init: str = "official"):
        super().__init__()
        _check_init("mlp", init)
        self.init = init
        sizes = [n_inputs, *hidden]
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], n_outputs))
        self.layers = nn.Sequential(*layers)
        if init == "official":
            for module in self.layers:
                if isinstance(module, nn.Linear):
                    official_dense_(module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))


def _mlp(input_shape: tuple[int, ...], n_outputs: int, hidden: list[int] = (256, 256), init: str = "official") -> nn.Module:
    return MLP(math.prod(input_shape), list(hidden), n_outputs, init=init)


# --- heads ---------------------------------------------------------------------------------------
class JointEmbeddingHead(nn.Module):
    """The -JE classifier (paper §5): logits_c = φ(x) · (a_c W)ᵀ + b_c.

    ``a_c`` are the class attribute rows, fixed and L2-normalised, one per output unit; ``W``
    (A × feature_dim) is shared by all classes and learned, so a class's embedding exists before
    any of its images is seen (the zero-shot accuracy a_{k,0,k} of Fig. 5); ``b_c`` is a
    per-output bias. ``init='official'``: W truncated normal (std 0.1) and b 0.1, the official
    ``get_attribute_embedding`` and ``attr_embed_b``; ``'torch'``: nn.Linear's W, b 0.
    """

    def __init__(self, n_features: int, class_attributes: torch.Tensor, init: str = "official"):
        super().__init__()
        attributes = torch.as_tensor(class_attributes, dtype=torch.float32)
        if attributes.ndim != 2:
            raise ValueError(f"class_attributes must be [n_outputs, A], got shape {tuple(attributes.shape)}")
        # A buffer, not a parameter: attributes are data, they move with .to(device) and are saved.
        self.register_buffer("attributes", F.normalize(attributes, dim=1))
        self.embed = nn.Linear(attributes.shape[1], n_features, bias=False)  # W, stored as its transpose
        self.bias = nn.Parameter(torch.zeros(attributes.shape[0]))
        if init == "official":
            nn.init.trunc_normal_(self.embed.weight, std=0.1, a=-0.2, b=0.2)
            nn.init.constant_(self.bias, 0.1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features @ self.embed(self.attributes).T + self.bias


HEADS = ("linear", "joint_embedding")


def make_head(head: str, n_features: int, n_outputs: int, class_attributes: torch.Tensor | None, init: str = "official") -> nn.Module:
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; known heads: {list(HEADS)}")
    if head == "linear":
        return nn.Linear(n_features, n_outputs)
    if class_attributes is None:
        raise ValueError(
            "head 'joint_embedding' needs class attributes, but the stream has none; "
            "build the stream from a source with attributes (CUB-200-2011, AwA2)"
        )
    if len(class_attributes) != n_outputs:
        raise ValueError(f"class_attributes has {len(class_attributes)} rows, the network has {n_outputs} outputs")
    return JointEmbeddingHead(n_features, class_attributes, init=init)


class FeatureNetwork(nn.Module):
    """A feature extractor followed by a head: ``forward(x) = head(features(x))``."""

    n_features: int
    head: nn.Module

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# --- reduced ResNet-18 (Split CIFAR) -------------------------------------------------------------
def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """GEM's residual block: 3×3 conv-BN-ReLU, 3×3 conv-BN, plus a shortcut, then ReLU.

    The shortcut is the identity, or a strided 1×1 convolution with batch norm when the shape
    changes (as in GEM's PyTorch ResNet18).
    """

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = conv3x3(in_channels, channels, stride)
        self.bn1 = batch_norm(channels)
        self.conv2 = conv3x3(channels, channels)
        self.bn2 = batch_norm(channels)
        self.shortcut: nn.Module = nn.Sequential()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, channels, kernel_size=1, stride=stride, bias=False), batch_norm(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ReducedResNet18(FeatureNetwork):
    """GEM's ``ResNet18(nclasses, nf=20)`` (Split CIFAR; docs/decisions.md#gem-resnet).

    3×3 conv1 with ``nf`` maps (no max-pool), four stages of two :class:`BasicBlock` with
    nf, 2nf, 4nf, 8nf maps and strides 1, 2, 2, 2, global average pooling, head 8nf → n_outputs.
    ``stem`` (conv1 + bn1 + ReLU) and ``stages`` are public so that other architectures (e.g.
    progressive columns) can reuse and tap them stage by stage. ``init='official'``: the official
    RESNET-S (:func:`official_resnet_init_`, head bias uniform); ``'torch'``: PyTorch's defaults.
    """

    def __init__(self, n_outputs: int, nf: int = 20, in_channels: int = 3, head: str = "linear",
                 class_attributes: torch.Tensor | None = None, init: str = "official"):
        super().__init__()
        _check_init("reduced_resnet18", init)
        self.init = init
        self.stem = nn.Sequential(conv3x3(in_channels, nf), batch_norm(nf), nn.ReLU())
        widths, strides = [nf, 2 * nf, 4 * nf, 8 * nf], [1, 2, 2, 2]
        stages, channels = [], nf
        for width, stride in zip(widths, strides):
            stages.append(nn.Sequential(BasicBlock(channels, width, stride), BasicBlock(width, width, 1)))
            channels = width
        self.stages = nn.ModuleList(stages)
        self.n_features = channels
        self.head = make_head(head, channels, n_outputs, class_attributes, init)
        if init == "official":
            official_resnet_init_(self, head_bias="uniform")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.stem(x)
        for stage in self.stages:
            out = stage(out)
        return F.adaptive_avg_pool2d(out, 1).flatten(1)


def _reduced_resnet18(input_shape, n_outputs, nf: int = 20, head: str = "linear", class_attributes=None, init: str = "official") -> nn.Module:
    _require_image_input("reduced_resnet18", input_shape)
    return ReducedResNet18(n_outputs, nf=nf, in_channels=input_shape[0], head=head, class_attributes=class_attributes, init=init)


# --- ResNet-18 (Split CUB, Split AWA) -----------------------------------------------------------
PRETRAINED = ("imagenet", "none")
BATCH_NORM_STATISTICS = ("fresh", "pretrained")


def imagenet_weights_file() -> Path:
    """Where torchvision's cache keeps the ImageNet ResNet-18 weights ($TORCH_HOME/hub/checkpoints)."""
    from torchvision.models import ResNet18_Weights

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(ResNet18_Weights.IMAGENET1K_V1.url).name


def _imagenet_state_dict() -> dict:
    from torchvision.models import ResNet18_Weights

    weights = ResNet18_Weights.IMAGENET1K_V1
    try:
        # Reads the cached file when present, else downloads it into the cache (hash-checked).
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # URLError, HTTPError, hash mismatch, a corrupt cached file…
        raise PretrainedWeightsMissing(
            f"could not load the ImageNet ResNet-18 weights ({type(exc).__name__}: {exc}). Offline, download "
            f"{weights.url} elsewhere and place it at {imagenet_weights_file()} "
            "(torchvision's cache; set TORCH_HOME to use another folder), or use network option pretrained: none"
        ) from exc


class ResNet18(FeatureNetwork):
    """torchvision's ResNet-18 without the max-pool after conv1 (the paper's network had none).

    ``pretrained='imagenet'`` loads torchvision's ImageNet weights (Split CUB), ``'none'`` trains
    from scratch (Split AWA). The official network also had no batch norm on the 1×1 shortcut;
    torchvision's has one (docs/decisions.md#resnet18-maxpool-shortcut: keep torchvision's, so the ImageNet
    weights fit). Batch norm uses the paper's eps 1e-3 and momentum 0.1.

    ``init='official'``: the official RESNET-B (:func:`official_resnet_init_`, head bias 0);
    ``'torch'``: torchvision's. With ImageNet weights only the head's initialisation matters,
    and ``batch_norm_statistics`` says where the running means and variances start: ``fresh``
    (as ``init`` sets them; the official code restored only the trainable variables from its
    ImageNet checkpoint) or ``pretrained`` (ImageNet's).
    """

    def __init__(self, n_outputs: int, pretrained: str = "none", head: str = "linear", class_attributes: torch.Tensor | None = None,
                 init: str = "official", batch_norm_statistics: str = "fresh"):
        super().__init__()
        from torchvision.models import resnet18

        _check_init("resnet18", init)
        if pretrained not in PRETRAINED:
            raise ValueError(f"network resnet18: pretrained must be one of {list(PRETRAINED)}, got {pretrained!r}")
        if batch_norm_statistics not in BATCH_NORM_STATISTICS:
            raise ValueError(f"network resnet18: batch_norm_statistics must be one of {list(BATCH_NORM_STATISTICS)}, got {batch_norm_statistics!r}")
        body = resnet18(weights=None, norm_layer=batch_norm)
        body.maxpool = nn.Identity()
        body.fc = nn.Identity()
        self.body = body
        self.n_features = 512
        self.head = make_head(head, self.n_features, n_outputs, class_attributes, init)
        self.init = init
        if init == "official":
            official_resnet_init_(self, head_bias="zero")
        if pretrained == "imagenet":
            self._load_imagenet(keep_statistics=batch_norm_statistics == "pretrained")

    def _load_imagenet(self, keep_statistics: bool) -> None:
        """ImageNet's weights into the body (its 1000-way fc dropped), its batch-norm running
        statistics too only when ``keep_statistics``."""
        own = self.body.state_dict()
        state = {name: value for name, value in _imagenet_state_dict().items() if not name.startswith("fc.")}
        if not keep_statistics:
            state.update({name: own[name] for name in state if name.rsplit(".", 1)[-1] in ("running_mean", "running_var", "num_batches_tracked")})
        self.body.load_state_dict(state)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _resnet18(input_shape, n_outputs, pretrained: str = "none", head: str = "linear", class_attributes=None,
              init: str = "official", batch_norm_statistics: str = "fresh") -> nn.Module:
    _require_image_input("resnet18", input_shape)
    return ResNet18(n_outputs, pretrained=pretrained, head=head, class_attributes=class_attributes, init=init,
                    batch_norm_statistics=batch_norm_statistics)


def _require_image_input(name: str, input_shape: tuple[int, ...]) -> None:
    if len(input_shape) != 3:
        raise ValueError(f"network {name!r} needs image inputs [channels, height, width], the stream's inputs are {list(input_shape)}")


# name -> factory(input_shape, n_outputs, **options); a factory whose options include ``head``
# also receives ``class_attributes`` when the head is 'joint_embedding' (see build_network).
NETWORKS: dict[str, Callable[..., nn.Module]] = {
    "mlp": _mlp,
    "reduced_resnet18": _reduced_resnet18,
    "resnet18": _resnet18,
}


def hidden_units(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """H of the paper's memory formulas (Table 7): activations per example of the hidden layers.

    Counted as the output sizes of every linear or convolutional layer but the last one, on one
    forward pass of a single zero input.
    """
    sizes: list[int] = []
    hooks = [
        module.register_forward_hook(lambda _m, _i, out: sizes.append(out[0].numel()))
        for module in model.modules()
        if isinstance(module, (nn.Linear, nn.Conv2d))
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            device = next(model.parameters()).device
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return sum(sizes[:-1])


def build_network(spec: dict, input_shape: tuple[int, ...], n_outputs: int, class_attributes: torch.Tensor | None = None) -> nn.Module:
    """The network ``spec`` (``{type: ..., **options}``) for a stream's inputs and outputs.

    ``class_attributes`` ([n_outputs, A], the stream's per-output class attributes, or None) is
    handed only to a joint-embedding head; other networks ignore it.
    """
    options = {key: value for key, value in spec.items() if key != "type"}
    kind = spec.get("type")
    if kind not in NETWORKS:
        raise ValueError(f"unknown network type {kind!r}; known types: {sorted(NETWORKS)}")
    if options.get("head") == "joint_embedding":
        options["class_attributes"] = class_attributes
    try:
        return NETWORKS[kind](tuple(input_shape), n_outputs, **options)
    except TypeError as exc:  # an option the network does not take
        raise ValueError(f"network {kind!r}: {exc}") from exc


# --- option checks, run by the config check before any job ----------------------------------------
def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


# option -> (test, what it must be); an option a factory takes but this table lacks is not checked.
NETWORK_OPTION_CHECKS: dict[str, tuple[Callable[[object], bool], str]] = {
    "hidden": (lambda v: isinstance(v, list) and all(_positive_int(n) for n in v), "a list of integers >= 1, e.g. [256, 256]"),
    "nf": (_positive_int, "an integer >= 1"),
    "head": (lambda v: v in HEADS, f"one of {list(HEADS)}"),
    "pretrained": (lambda v: v in PRETRAINED, f"one of {list(PRETRAINED)}"),
    "init": (lambda v: v in INITS, f"one of {list(INITS)}"),
    "batch_norm_statistics": (lambda v: v in BATCH_NORM_STATISTICS, f"one of {list(BATCH_NORM_STATISTICS)}"),
}


def network_options(kind: str) -> list[str]:
    """The options network ``kind`` takes (its factory's keyword arguments)."""
    parameters = inspect.signature(NETWORKS[kind]).parameters
    return [name for name in list(parameters)[2:] if name != "class_attributes"]


def check_network_spec(spec: dict) -> None:
    """Raise ValueError naming an unknown network type, an unknown option or a bad option value."""
    kind = spec.get("type")
    if kind not in NETWORKS:
        raise ValueError(f"type: unknown network {kind!r}; known: {sorted(NETWORKS)}")
    known = network_options(kind)
    for option, value in spec.items():
        if option == "type":
            continue
        if option not in known:
            close = difflib.get_close_matches(option, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"{option}: network {kind!r} has no option {option!r}; {hint}it takes {known}")
        test, rule = NETWORK_OPTION_CHECKS.get(option, (lambda _v: True, ""))
        if not test(value):
            raise ValueError(f"{option}: must be {rule}, got {value!r}")
