"""Wide ResNet WRN-d-k for CIFAR (Zagoruyko & Komodakis 2016, "Wide Residual Networks").

A 3x3 stem conv with 16 channels, then three stages of n = (d - 4) / 6 pre-activation basic blocks with
16k, 32k and 64k channels at 32x32, 16x16 and 8x8; dropout sits between the two convs of a block (the
paper's section 2.4). A 1x1 conv projects the shortcut where the shape changes (in every stage's first
block, as k > 1 widens stage 1 too). The net ends BN-ReLU-global average pool-FC: the pre-activation
ResNet of resnet.py with wider stages, which is what it builds.
"""

from __future__ import annotations

from .resnet import PreActResNet

__all__ = ["build"]


def build(model, regularization, num_classes: int) -> PreActResNet:
    k = model.widen
    return PreActResNet((model.depth - 4) // 6, (16 * k, 32 * k, 64 * k), False, num_classes, regularization,
                        dropout=model.dropout)
