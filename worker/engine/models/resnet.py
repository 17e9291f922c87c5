"""Pre-activation ResNet for CIFAR (He et al. 2016, "Identity Mappings in Deep Residual Networks").

A 3x3 stem conv with 16 channels, then three stages of n blocks at 32x32, 16x16 and 8x8 with 16, 32 and 64
channels: basic blocks (depth 6n+2) or bottleneck blocks (depth 9n+2) whose outputs are 4x wider (64, 128,
256). Each block is full pre-activation (the paper's fig. 4(e)): BN-ReLU before every conv, nothing after
the addition. Where the shape changes a 1x1 conv projects the shortcut; elsewhere it is the identity.
The net ends BN-ReLU-global average pool-FC.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..batch_norm import GhostBatchNorm2d
from ..regularizers import Dropout, branch_regularizer
from .common import conv1x1, conv3x3, init_weights

__all__ = ["PreActBlock", "PreActResNet", "build"]

BOTTLENECK_EXPANSION = 4


class PreActBlock(nn.Module):
    """Basic: BN-ReLU-conv3x3-BN-ReLU-conv3x3. Bottleneck: BN-ReLU-conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1.

    The stride sits in the 3x3 conv; the regularizer scales the branch's output before the addition.
    """

    def __init__(self, in_channels: int, width: int, stride: int, bottleneck: bool, regularizer: nn.Module,
                 end_with_bn: bool, dropout: float = 0.0):
        super().__init__()
        out_channels = width * BOTTLENECK_EXPANSION if bottleneck else width
        self.preact = nn.Sequential(GhostBatchNorm2d(in_channels), nn.ReLU())
        if bottleneck:
            layers = [conv1x1(in_channels, width), GhostBatchNorm2d(width), nn.ReLU(),
                      conv3x3(width, width, stride), GhostBatchNorm2d(width), nn.ReLU(),
                      conv1x1(width, out_channels)]
        else:
            # Dropout between the convs is Wide ResNet's (its section 2.4); 0 elsewhere.
            layers = [conv3x3(in_channels, width, stride), GhostBatchNorm2d(width), nn.ReLU(),
                      *([Dropout(dropout)] if dropout else []), conv3x3(width, out_channels)]
        if end_with_bn:
            # A pre-activation branch ends in a conv, but ShakeDrop needs it to end in BN or a large |alpha|
            # makes training diverge (Yamada et al., IEEE Access 2019, arXiv:1802.02375); WRN-28-10 gets worse
            # under ShakeDrop without it (table 5(b)). The ShakeDrop authors add one.
            layers.append(GhostBatchNorm2d(out_channels))
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


class PreActResNet(nn.Module):
    """Three stages of n pre-activation blocks; Wide ResNet is this net with wider stages and dropout."""

    def __init__(self, n: int, widths: tuple[int, int, int], bottleneck: bool, num_classes: int,
                 regularization, dropout: float = 0.0):
        super().__init__()
        end_with_bn = regularization.method == "shakedrop"
        self.stem = conv3x3(3, 16)
        blocks, in_channels = [], 16
        for stage, width in enumerate(widths):
            for i in range(n):
                index = stage * n + i + 1  # 1-based over all 3n blocks: the linear decay rule's l
                regularizer = branch_regularizer(regularization, index, 3 * n)
                block = PreActBlock(in_channels, width, 2 if stage > 0 and i == 0 else 1, bottleneck,
                                    regularizer, end_with_bn, dropout)
                blocks.append(block)
                in_channels = width * BOTTLENECK_EXPANSION if bottleneck else width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(GhostBatchNorm2d(in_channels), nn.ReLU())
        self.fc = nn.Linear(in_channels, num_classes)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(x.mean((2, 3)))


def build(model, regularization, num_classes: int) -> PreActResNet:
    n = (model.depth - 2) // (9 if model.bottleneck else 6)
    return PreActResNet(n, (16, 32, 64), model.bottleneck, num_classes, regularization)
