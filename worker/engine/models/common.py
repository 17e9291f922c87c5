"""Pieces shared by the CIFAR model families: bias-free convs, the Shake-Shake shortcut, weight init."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..batch_norm import GhostBatchNorm2d

__all__ = ["conv1x1", "conv3x3", "ShakeShakeShortcut", "init_weights"]


# Every convolution here is followed by a BatchNorm, whose shift makes a conv bias redundant; the papers'
# parameter counts (e.g. 2.9M for Shake-Shake 26 2x32d, Gastaldi 2017, Table 3) count none.
def conv3x3(in_channels: int, out_channels: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


class ShakeShakeShortcut(nn.Module):
    """The Shake-Shake skip where the shape changes (Gastaldi 2017, arXiv:1705.07485, section 2.1.1).

    Two paths, each a strided 1x1 average pool (i.e. take every `stride`-th pixel) and a 1x1 conv to half
    the output channels; path 2 first shifts the input by one pixel so that at stride 2 it samples the
    odd pixels that path 1 skips. The paths are concatenated and batch-normalised.

    Shift direction: up/left with zeros entering at the bottom/right, so path 2 samples rows and columns
    1, 3, ..., 31 (the paper's "other pixels"; hysts and the TensorFlow port). The authors' Lua code shifts
    right/down instead (SpatialZeroPadding(1, -1, 1, -1)): path 2 samples -1 (a zero row/col), 1, ..., 29
    and never sees the last row/column.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        if out_channels % 2:
            raise ValueError(f"the two-path shortcut needs an even channel count, got {out_channels}")
        self.stride = stride
        self.path1 = conv1x1(in_channels, out_channels // 2)
        self.path2 = conv1x1(in_channels, out_channels // 2)
        self.bn = GhostBatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        s = self.stride
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.path1(x[:, :, ::s, ::s]), self.path2(shifted[:, :, ::s, ::s])], dim=1))


def init_weights(model: nn.Module) -> nn.Module:
    """He init for convolutions (He et al. 2015, as in all these papers' code), BN as identity, FC bias 0."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)
    return model
