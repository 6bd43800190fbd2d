"""Progressive neural networks (Rusu et al. 2016) as the official A-GEM code builds them (PNN).

One *column* per task, each a copy of the configured network with fresh weights. A column is
cut into *stages*; stage i of column k computes its pre-activation from its own input and adds
a lateral term from the input of stage i of every earlier column j < k, through a learned
adapter U^{k,j}_i; then the stage's non-linearity. As in the official code
(``extensible_fc_column_progNN``, ``extensible_resnet_column_progNN`` at 5e84338):

* MLP (:class:`MLPLayout`): every linear layer is a stage, the first (fed by the inputs
  themselves) and the output layer included; adapters are linear layers initialised like the
  network (truncated normal, std 0.1; biases 0.1).
* ResNets (:class:`ResNetLayout`): the stem (conv–BN, lateral from the inputs), each of the four
  stages of residual blocks (lateral added before the ReLU of the stage's last block), and the
  head (lateral from the earlier column's globally pooled last-stage output); adapters are
  1×1 convolutions with the stage's stride (a linear layer for the head), same initialisation.

Only the newest column and its adapters are trained; earlier columns are frozen, and kept in
evaluation mode even while the network trains, so their batch-norm statistics never change and
an earlier task's outputs stay exactly what they were (forgetting 0).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from agem.networks.models import MLP, ReducedResNet18, ResNet18


def paper_init_(module: nn.Module) -> nn.Module:
    """The official code's ``weight_variable``/``bias_variable``: truncated normal (std 0.1) and 0.1."""
    nn.init.trunc_normal_(module.weight, std=0.1, a=-0.2, b=0.2)
    nn.init.constant_(module.bias, 0.1)
    return module


class MLPLayout:
    """Stages of an :class:`agem.networks.models.MLP`: its linear layers, ReLU after all but the last."""

    @staticmethod
    def linears(column: MLP) -> list[nn.Linear]:
        return [m for m in column.layers if isinstance(m, nn.Linear)]

    @classmethod
    def n_stages(cls, column: MLP) -> int:
        return len(cls.linears(column))

    @staticmethod
    def stage_input(x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)

    @classmethod
    def pre_activation(cls, column: MLP, stage: int, h: torch.Tensor) -> torch.Tensor:
        return cls.linears(column)[stage](h)

    @classmethod
    def activate(cls, column: MLP, stage: int, pre: torch.Tensor) -> torch.Tensor:
        return pre if stage == cls.n_stages(column) - 1 else F.relu(pre)

    @classmethod
    def adapter(cls, column: MLP, stage: int) -> nn.Module:
        linear = cls.linears(column)[stage]
        return paper_init_(nn.Linear(linear.in_features, linear.out_features))

    @staticmethod
    def fresh_column(column: MLP, initial_state: dict | None) -> MLP:
        linears = MLPLayout.linears(column)
        return MLP(linears[0].in_features, [m.out_features for m in linears[:-1]], linears[-1].out_features, init=column.init)


def residual_pre_activation(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A basic residual block's output before its final ReLU (``relu`` of it is ``block(x)``).

    Written for both block types the ResNets use, agem.networks.models.BasicBlock (``shortcut``) and
    torchvision's BasicBlock (``downsample``); tests check it against their ``forward``.
    """
    out = block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x)))))
    shortcut = getattr(block, "shortcut", None)
    if shortcut is None:
        shortcut = block.downsample
    return out + (x if shortcut is None else shortcut(x))


class ResNetLayout:
    """Stages of :class:`agem.networks.models.ReducedResNet18` and :class:`agem.networks.models.ResNet18`:
    stem (conv–BN, ReLU), four stages of residual blocks, head on the pooled features."""

    N_STAGES = 6  # stem, 4 residual stages, head

    @staticmethod
    def parts(column: nn.Module) -> tuple[list[nn.Module], list[nn.Sequential], nn.Module]:
        """(stem modules before its ReLU, residual stages, head)."""
        if isinstance(column, ReducedResNet18):
            return list(column.stem)[:-1], list(column.stages), column.head
        body = column.body  # torchvision's ResNet, max-pool removed
        return [body.conv1, body.bn1], [body.layer1, body.layer2, body.layer3, body.layer4], column.head

    @classmethod
    def n_stages(cls, column: nn.Module) -> int:
        return cls.N_STAGES

    @staticmethod
    def stage_input(x: torch.Tensor) -> torch.Tensor:
        return x

    @classmethod
    def pre_activation(cls, column: nn.Module, stage: int, h: torch.Tensor) -> torch.Tensor:
        stem, stages, head = cls.parts(column)
        if stage == 0:
            for module in stem:
                h = module(h)
            return h
        if stage == cls.N_STAGES - 1:
            return head(F.adaptive_avg_pool2d(h, 1).flatten(1))
        *blocks, last = stages[stage - 1]
        for block in blocks:
            h = block(h)
        return residual_pre_activation(last, h)

    @classmethod
    def activate(cls, column: nn.Module, stage: int, pre: torch.Tensor) -> torch.Tensor:
        return pre if stage == cls.N_STAGES - 1 else F.relu(pre)

    @classmethod
    def adapter(cls, column: nn.Module, stage: int) -> nn.Module:
        stem, stages, head = cls.parts(column)
        if stage == cls.N_STAGES - 1:
            return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), paper_init_(nn.Linear(head.in_features, head.out_features)))
        if stage == 0:
            conv = stem[0]
            return paper_init_(nn.Conv2d(conv.in_channels, conv.out_channels, kernel_size=1, stride=conv.stride))
        first = stages[stage - 1][0].conv1
        last = stages[stage - 1][-1].conv2
        return paper_init_(nn.Conv2d(first.in_channels, last.out_channels, kernel_size=1, stride=first.stride))

    @staticmethod
    def fresh_column(column: nn.Module, initial_state: dict | None) -> nn.Module:
        if isinstance(column, ReducedResNet18):
            conv = column.stem[0]
            return ReducedResNet18(column.head.out_features, nf=conv.out_channels, in_channels=conv.in_channels, init=column.init)
        # ResNet-18: a new column starts where the first one started (ImageNet weights on CUB;
        # the network cannot be rebuilt without knowing whether it was pretrained).
        fresh = copy.deepcopy(column)
        fresh.load_state_dict(initial_state)
        return fresh.requires_grad_(True)


def layout_of(network: nn.Module):
    if isinstance(network, MLP):
        return MLPLayout
    if isinstance(network, (ReducedResNet18, ResNet18)):
        if not isinstance(network.head, nn.Linear):
            raise ValueError("PROG-NN needs a linear head; the paper runs no -JE variant of it (PROG-NN is out of memory on CUB and AWA)")
        return ResNetLayout
    raise ValueError(f"PROG-NN has no column layout for {type(network).__name__}; it supports the mlp and the ResNets")


class ProgressiveNetwork(nn.Module):
    """Columns with lateral adapters; ``forward`` gives the newest column's logits."""

    def __init__(self, first_column: nn.Module):
        super().__init__()
        self.layout = layout_of(first_column)
        # ResNet-18 columns restart from the first column's initial weights (see fresh_column);
        # a plain dict, not a submodule, so that it is neither trained nor a column's parameter.
        self.initial_state = (
            {name: value.detach().clone() for name, value in first_column.state_dict().items()} if isinstance(first_column, ResNet18) else None
        )
        self.columns = nn.ModuleList([first_column])
        # adapters[k][i][j]: from the input of stage i of column j into stage i of column k (j < k)
        self.adapters = nn.ModuleList([nn.ModuleList()])

    @property
    def n_columns(self) -> int:
        return len(self.columns)

    def new_column(self) -> nn.Module:
        """A fresh column (not yet added); its weights come from the global torch RNG."""
        column = self.layout.fresh_column(self.columns[0], self.initial_state)
        return column.to(next(self.columns[0].parameters()).device)

    def add_column(self, column: nn.Module) -> None:
        """Freeze every existing column and adapter, then append ``column`` with new adapters
        (initialised from the global torch RNG)."""
        self.requires_grad_(False)
        k = self.n_columns
        device = next(column.parameters()).device
        stages = [nn.ModuleList([self.layout.adapter(column, i) for _ in range(k)]) for i in range(self.layout.n_stages(column))]
        self.columns.append(column)
        self.adapters.append(nn.ModuleList(stages).to(device))
        self.train(self.training)

    def forward(self, x: torch.Tensor, column: int | None = None) -> torch.Tensor:
        last = self.n_columns - 1 if column is None else column
        stage_inputs: list[list[torch.Tensor]] = []  # [column][stage]
        for k in range(last + 1):
            net = self.columns[k]
            h = self.layout.stage_input(x)
            inputs = []
            for i in range(self.layout.n_stages(net)):
                inputs.append(h)
                pre = self.layout.pre_activation(net, i, h)
                for j in range(k):
                    pre = pre + self.adapters[k][i][j](stage_inputs[j][i])
                h = self.layout.activate(net, i, pre)
            stage_inputs.append(inputs)
        return h

    def train(self, mode: bool = True) -> ProgressiveNetwork:
        """Only the newest column follows ``mode``; frozen columns stay in evaluation mode."""
        super().train(mode)
        for column in self.columns[:-1]:
            column.eval()
        return self
