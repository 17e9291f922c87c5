"""PyramidNet for CIFAR (Han et al. 2017, "Deep Pyramidal Residual Networks"), additive widening.

N = 3n blocks (basic: n = (depth - 2) / 6; bottleneck: n = (depth - 2) / 9) whose width grows linearly
over the whole net instead of doubling per stage: block k (1..N) has D_k = round(16 + k * alpha / N)
channels (the paper's eq. 2; `int(round())` as in the official code), a bottleneck block outputs 4 * D_k.
The first block of stages 2 and 3 strides 2 in its 3x3 conv. Branches (the paper's choice: no ReLU after
the addition, no ReLU right after the first BN, BN last, which is where ShakeDrop goes):
  basic       BN-conv3x3-BN-ReLU-conv3x3-BN
  bottleneck  BN-conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1-BN
The shortcut has no parameters: identity, or a 2x2 average pool of stride 2 where the block downsamples,
then zeros for the channels the branch adds. Stem conv3x3 16 + BN; head BN-ReLU-global average pool-FC.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..batch_norm import GhostBatchNorm2d
from ..regularizers import _compiling, branch_regularizer
from .common import conv1x1, conv3x3, init_weights

__all__ = ["PyramidBlock", "PyramidNet", "widths", "build"]

BOTTLENECK_EXPANSION = 4


def widths(depth: int, alpha: int, bottleneck: bool) -> list[int]:
    """D_1..D_N, the inner width of every block (before the bottleneck's expansion)."""
    n_blocks = 3 * ((depth - 2) // (9 if bottleneck else 6))
    return [int(round(16 + k * alpha / n_blocks)) for k in range(1, n_blocks + 1)]


class PyramidBlock(nn.Module):
    def __init__(self, in_channels: int, width: int, stride: int, bottleneck: bool, regularizer: nn.Module):
        super().__init__()
        if bottleneck:
            out_channels = width * BOTTLENECK_EXPANSION
            layers = [GhostBatchNorm2d(in_channels),
                      conv1x1(in_channels, width), GhostBatchNorm2d(width), nn.ReLU(),
                      conv3x3(width, width, stride), GhostBatchNorm2d(width), nn.ReLU(),
                      conv1x1(width, out_channels), GhostBatchNorm2d(out_channels)]
        else:
            out_channels = width
            layers = [GhostBatchNorm2d(in_channels),
                      conv3x3(in_channels, width, stride), GhostBatchNorm2d(width), nn.ReLU(),
                      conv3x3(width, width), GhostBatchNorm2d(width)]
        self.branch = nn.Sequential(*layers)
        self.regularizer = regularizer
        self.stride = stride
        self.extra_channels = out_channels - in_channels

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.stride == 1 else F.avg_pool2d(x, 2, self.stride, ceil_mode=True)
        branch = self.branch(x)
        if _compiling():  # inductor fuses the regularizer's scaling, the pad and the add
            out = self.regularizer(branch)
            if not self.extra_channels:
                return shortcut + out
            # Zero-pad the new channels: (left, right) pairs from the last dim backwards, channels third.
            return F.pad(shortcut, (0, 0, 0, 0, 0, self.extra_channels)) + out
        scales = getattr(self.regularizer, "scales", None)
        if scales is not None and self.training:  # ShakeDrop's scaling folded into the addition
            return _AddToFirstChannels.apply(branch, shortcut, *scales(branch))
        out = self.regularizer(branch)
        if not self.extra_channels:
            return shortcut + out
        return _AddToFirstChannels.apply(out, shortcut, None, None)


class _AddToFirstChannels(torch.autograd.Function):
    """`shortcut zero-padded to branch's channels + branch * forward_scale` in eager mode, in one pass over
    branch and without the zeros; backward, `grad * backward_scale` for the branch and a slice of grad for the
    shortcut. The scales are ShakeDrop's (regularizers._Scale's two multiplies, without the scaled branch as a
    tensor of its own) or None, a plain padded addition. The same gradients as the regularizer, F.pad and add,
    and the same values up to float rounding (tested). (An in-place `out[:, :c] += shortcut` is no cheaper:
    autograd's backward for an in-place slice of a channels_last tensor copies the whole gradient through
    as_strided.)"""

    @staticmethod
    def forward(ctx, branch: Tensor, shortcut: Tensor, forward_scale: Tensor | None,
                backward_scale: Tensor | None) -> Tensor:
        c = shortcut.shape[1]
        ctx.channels, ctx.memory_format = c, _memory_format(shortcut)
        ctx.save_for_backward(backward_scale)
        y = torch.empty_like(branch)
        if forward_scale is None:
            y[:, c:] = branch[:, c:]
            torch.add(branch[:, :c], shortcut, out=y[:, :c])
            return y
        torch.addcmul(shortcut, branch[:, :c], _channels(forward_scale, slice(None, c)), out=y[:, :c])
        if c < branch.shape[1]:
            torch.mul(branch[:, c:], _channels(forward_scale, slice(c, None)), out=y[:, c:])
        return y

    @staticmethod
    def backward(ctx, grad: Tensor):
        (scale,) = ctx.saved_tensors
        c = ctx.channels
        # the shortcut's gradient in its own layout: a strided slice would send avg_pool2d's backward down a
        # slow path
        grad_shortcut = grad if c == grad.shape[1] else grad[:, :c].contiguous(memory_format=ctx.memory_format)
        return grad if scale is None else grad * scale, grad_shortcut, None, None


def _channels(scale: Tensor, channels: slice) -> Tensor:
    """A scale's values for some channels of the tensor it scales (one value per image or batch: all)."""
    return scale if scale.shape[1] == 1 else scale[:, channels]


def _memory_format(x: Tensor) -> torch.memory_format:
    contiguous = x.is_contiguous()
    return torch.channels_last if not contiguous and x.is_contiguous(memory_format=torch.channels_last) \
        else torch.contiguous_format


class PyramidNet(nn.Module):
    def __init__(self, depth: int, alpha: int, bottleneck: bool, num_classes: int, regularization):
        super().__init__()
        block_widths = widths(depth, alpha, bottleneck)
        n = len(block_widths) // 3
        self.stem = nn.Sequential(conv3x3(3, 16), GhostBatchNorm2d(16))
        blocks, in_channels = [], 16
        for index, width in enumerate(block_widths, start=1):
            stride = 2 if index in (n + 1, 2 * n + 1) else 1  # the first block of stages 2 and 3
            regularizer = branch_regularizer(regularization, index, len(block_widths))
            blocks.append(PyramidBlock(in_channels, width, stride, bottleneck, regularizer))
            in_channels = width * BOTTLENECK_EXPANSION if bottleneck else width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(GhostBatchNorm2d(in_channels), nn.ReLU())
        self.fc = nn.Linear(in_channels, num_classes)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(x.mean((2, 3)))


def build(model, regularization, num_classes: int) -> PyramidNet:
    return PyramidNet(model.depth, model.alpha, model.bottleneck, num_classes, regularization)
