"""The Shake-Shake paper's two-branch ResNet for CIFAR-10, "26 2xKd" (Gastaldi 2017, section 2.1.1).

A 3x3 stem conv with 16 channels + BN, then three stages of n = (depth - 2) / 6 blocks with K, 2K and 4K
channels at 32x32, 16x16 and 8x8 (26 layers = stem + 3 stages x 4 blocks x 2 convs + FC). Each block has
two residual branches ReLU-conv3x3-BN-ReLU-conv3x3-BN, mixed by Shake-Shake (or averaged: Even-Even); the
skip is the identity, or where the shape changes ReLU followed by the two-path shortcut. The net ends
ReLU-global average pool-FC. Layout as in the authors' Lua code (shakeshake.lua, shakeshakeblock.lua).
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from ..batch_norm import GhostBatchNorm2d
from ..regularizers import branch_mix
from .common import ShakeShakeShortcut, conv3x3, init_weights

__all__ = ["ShakeBlock", "ShakeResNet", "build"]


def _branch(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    # Index 0 is the branch's leading ReLU, which the block computes once for both branches and the shortcut;
    # the slot stays so that parameter names (and checkpoints) are those of the written-out layout.
    return nn.Sequential(
        nn.Identity(), conv3x3(in_channels, out_channels, stride), GhostBatchNorm2d(out_channels),
        nn.ReLU(inplace=True), conv3x3(out_channels, out_channels), GhostBatchNorm2d(out_channels))


class ShakeBlock(nn.Module):
    """x -> skip(x) + mix(branch1(ReLU(x)), branch2(ReLU(x))); skip is the identity or shortcut(ReLU(x))."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, mix: nn.Module):
        super().__init__()
        self.branch1 = _branch(in_channels, out_channels, stride)
        self.branch2 = _branch(in_channels, out_channels, stride)
        self.mix = mix
        self.skip = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.skip = nn.Sequential(nn.Identity(), ShakeShakeShortcut(in_channels, out_channels, stride))

    def forward(self, x: Tensor) -> Tensor:
        # One ReLU for the three paths that start with it: the same values and gradients as three, one pass fewer
        # each way (the paths' gradients are summed before the ReLU's backward instead of after).
        activated = F.relu(x)
        skip = x if isinstance(self.skip, nn.Identity) else self.skip(activated)
        return skip + self.mix(self.branch1(activated), self.branch2(activated))


class ShakeResNet(nn.Module):
    def __init__(self, depth: int, width: int, num_classes: int, regularization):
        super().__init__()
        n = (depth - 2) // 6
        self.stem = nn.Sequential(conv3x3(3, 16), GhostBatchNorm2d(16))
        blocks, in_channels = [], 16
        for stage, out_channels in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(ShakeBlock(in_channels, out_channels, stride, branch_mix(regularization)))
                in_channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.ReLU()
        self.fc = nn.Linear(in_channels, num_classes)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(x.mean((2, 3)))


def build(model, regularization, num_classes: int) -> ShakeResNet:
    return ShakeResNet(model.depth, model.width, num_classes, regularization)
