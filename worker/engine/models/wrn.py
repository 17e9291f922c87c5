"""Wide ResNet WRN-d-k for CIFAR (Zagoruyko & Komodakis 2016, "Wide Residual Networks").

A 3x3 stem conv with 16 channels, then three stages of n = (d - 4) / 6 pre-activation basic blocks with
16k, 32k and 64k channels at 32x32, 16x16 and 8x8; dropout sits between the two convs of a block (the
paper's section 2.4). A 1x1 conv projects the shortcut where the shape changes (in every stage's first
block, as k > 1 widens stage 1 too). The net ends BN-ReLU-global average pool-FC.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..regularizers import branch_regularizer
from .common import conv1x1, conv3x3, init_weights

__all__ = ["WideBlock", "WideResNet", "build"]


class WideBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3; the regularizer scales the branch before the addition."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, dropout: float,
                 regularizer: nn.Module, end_with_bn: bool):
        super().__init__()
        self.preact = nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU())
        layers = [conv3x3(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels), nn.ReLU(),
                  nn.Dropout(dropout), conv3x3(out_channels, out_channels)]
        if end_with_bn:
            # ShakeDrop needs the branch to end in BN or a large |alpha| makes training diverge; WRN-28-10
            # gets worse under ShakeDrop without it (Yamada et al., IEEE Access 2019, table 5(b); PAPERS.md
            # 2.2), so the ShakeDrop authors add one.
            layers.append(nn.BatchNorm2d(out_channels))
        self.branch = nn.Sequential(*layers)
        self.projection = None
        if stride != 1 or in_channels != out_channels:
            self.projection = conv1x1(in_channels, out_channels, stride)
        self.regularizer = regularizer

    def forward(self, x: Tensor) -> Tensor:
        activated = self.preact(x)
        # The projection reads the pre-activated input, as in the authors' code; the identity reads x.
        shortcut = x if self.projection is None else self.projection(activated)
        return shortcut + self.regularizer(self.branch(activated))


class WideResNet(nn.Module):
    def __init__(self, depth: int, widen: int, dropout: float, num_classes: int, regularization):
        super().__init__()
        n = (depth - 4) // 6
        end_with_bn = regularization.method == "shakedrop"
        self.stem = conv3x3(3, 16)
        blocks, in_channels = [], 16
        for stage, width in enumerate((16 * widen, 32 * widen, 64 * widen)):
            for i in range(n):
                index = stage * n + i + 1  # 1-based over all 3n blocks: the linear decay rule's l
                regularizer = branch_regularizer(regularization, index, 3 * n)
                blocks.append(WideBlock(in_channels, width, 2 if stage > 0 and i == 0 else 1, dropout,
                                        regularizer, end_with_bn))
                in_channels = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU())
        self.fc = nn.Linear(in_channels, num_classes)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(x.mean((2, 3)))


def build(model, regularization, num_classes: int) -> WideResNet:
    return WideResNet(model.depth, model.widen, model.dropout, num_classes, regularization)
