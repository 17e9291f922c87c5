"""ResNeXt for CIFAR (Xie et al. 2017, "Aggregated Residual Transformations"), e.g. ResNeXt-29 8x64d.

A 3x3 stem conv with 64 channels (BN-ReLU), then three stages of n = (depth - 2) / 9 bottleneck blocks at
32x32, 16x16 and 8x8 whose outputs have 256, 512 and 1024 channels. The C groups of the 3x3 conv have
base_width channels each in stage 1, doubling per stage (C * base_width * 2^stage in all, one grouped conv:
the paper's fig. 3(c)). Post-activation as in the original ResNet: conv-BN-ReLU inside the branch, the branch
ends in BN, ReLU after the addition. A 1x1 conv + BN projects the shortcut where the shape changes.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..batch_norm import GhostBatchNorm2d
from ..regularizers import branch_regularizer
from .common import conv1x1, conv3x3, init_weights

__all__ = ["ResNeXtBlock", "ResNeXt", "build"]

STAGE_OUTPUTS = (256, 512, 1024)


class ResNeXtBlock(nn.Module):
    """conv1x1-BN-ReLU-grouped conv3x3 (strided)-BN-ReLU-conv1x1-BN, regularizer, add, ReLU."""

    def __init__(self, in_channels: int, inner_channels: int, out_channels: int, cardinality: int,
                 stride: int, regularizer: nn.Module):
        super().__init__()
        self.branch = nn.Sequential(
            conv1x1(in_channels, inner_channels), GhostBatchNorm2d(inner_channels), nn.ReLU(),
            conv3x3(inner_channels, inner_channels, stride, groups=cardinality),
            GhostBatchNorm2d(inner_channels), nn.ReLU(),
            conv1x1(inner_channels, out_channels), GhostBatchNorm2d(out_channels))
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(conv1x1(in_channels, out_channels, stride),
                                          GhostBatchNorm2d(out_channels))
        self.regularizer = regularizer

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.shortcut(x) + self.regularizer(self.branch(x)))


class ResNeXt(nn.Module):
    def __init__(self, depth: int, cardinality: int, base_width: int, num_classes: int, regularization):
        super().__init__()
        n = (depth - 2) // 9
        self.stem = nn.Sequential(conv3x3(3, 64), GhostBatchNorm2d(64), nn.ReLU())
        blocks, in_channels = [], 64
        for stage, out_channels in enumerate(STAGE_OUTPUTS):
            inner_channels = cardinality * base_width * 2**stage
            for i in range(n):
                index = stage * n + i + 1  # 1-based over all 3n blocks: the linear decay rule's l
                regularizer = branch_regularizer(regularization, index, 3 * n)
                blocks.append(ResNeXtBlock(in_channels, inner_channels, out_channels, cardinality,
                                           2 if stage > 0 and i == 0 else 1, regularizer))
                in_channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(in_channels, num_classes)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(x.mean((2, 3)))


def build(model, regularization, num_classes: int) -> ResNeXt:
    return ResNeXt(model.depth, model.cardinality, model.base_width, num_classes, regularization)
