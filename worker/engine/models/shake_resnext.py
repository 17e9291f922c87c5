"""The Shake-Shake paper's two-branch ResNeXt for CIFAR-100, "ResNeXt-29 2x4x64d" (Gastaldi 2017, table 2).

ResNeXt for CIFAR (Xie et al. 2017) without pre-activation, with two residual branches per block: a 3x3
stem conv with 64 channels (BN-ReLU), then three stages of n = (depth - 2) / 9 blocks whose outputs have
256, 512 and 1024 channels at 32x32, 16x16 and 8x8. Each branch is conv1x1-BN-ReLU-grouped conv3x3-BN-
ReLU-conv1x1-BN with C groups of base_width channels in stage 1, doubling per stage (2x4x64d: 256, 512,
1024 grouped channels); the branches are mixed by Shake-Shake (or averaged), added to the skip, then ReLU.
The skip is the identity, or where the shape changes the Shake-Shake two-path shortcut (common.py), also
in stage 1's first block (64 -> 256 channels at stride 1, where path 2 is the shifted input). Its input
is already ReLU'd by the previous block, so unlike the ResNet variant it needs no ReLU of its own.
A conv1x1 + BN projection there would count the same parameters; with either, CIFAR-100 gives
34,529,700 (the paper's Table 3 rounds it to 34.4M).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..batch_norm import GhostBatchNorm2d
from ..regularizers import branch_mix
from .common import ShakeShakeShortcut, conv1x1, conv3x3, init_weights

__all__ = ["ShakeResNeXtBlock", "ShakeResNeXt", "build"]

STAGE_OUTPUTS = (256, 512, 1024)


def _branch(in_channels: int, inner_channels: int, out_channels: int, cardinality: int,
            stride: int) -> nn.Sequential:
    return nn.Sequential(
        conv1x1(in_channels, inner_channels), GhostBatchNorm2d(inner_channels), nn.ReLU(),
        conv3x3(inner_channels, inner_channels, stride, groups=cardinality),
        GhostBatchNorm2d(inner_channels), nn.ReLU(),
        conv1x1(inner_channels, out_channels), GhostBatchNorm2d(out_channels))


class ShakeResNeXtBlock(nn.Module):
    """x -> ReLU(skip(x) + mix(branch1(x), branch2(x)))."""

    def __init__(self, in_channels: int, inner_channels: int, out_channels: int, cardinality: int,
                 stride: int, mix: nn.Module):
        super().__init__()
        self.branch1 = _branch(in_channels, inner_channels, out_channels, cardinality, stride)
        self.branch2 = _branch(in_channels, inner_channels, out_channels, cardinality, stride)
        self.mix = mix
        self.skip = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.skip = ShakeShakeShortcut(in_channels, out_channels, stride)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.skip(x) + self.mix(self.branch1(x), self.branch2(x)))


class ShakeResNeXt(nn.Module):
    def __init__(self, depth: int, cardinality: int, base_width: int, num_classes: int, regularization):
        super().__init__()
        n = (depth - 2) // 9
        self.stem = nn.Sequential(conv3x3(3, 64), GhostBatchNorm2d(64), nn.ReLU())
        blocks, in_channels = [], 64
        for stage, out_channels in enumerate(STAGE_OUTPUTS):
            inner_channels = cardinality * base_width * 2**stage
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(ShakeResNeXtBlock(in_channels, inner_channels, out_channels, cardinality,
                                                stride, branch_mix(regularization)))
                in_channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(in_channels, num_classes)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(x.mean((2, 3)))


def build(model, regularization, num_classes: int) -> ShakeResNeXt:
    return ShakeResNeXt(model.depth, model.cardinality, model.base_width, num_classes, regularization)
