"""Batch norm per replica group ("ghost batch norm", Hoffer et al. 2017, arXiv:1705.08741).

`GhostBatchNorm2d` is `nn.BatchNorm2d` (same parameters, buffers and state dict) that, in training, takes
its statistics over each group of the current `replicas.BatchLayout` rather than over the whole batch,
as each GPU of the papers' DataParallelTable did over its own slice. The groups of a batch are normalised
together by one call of torch's batch norm on a reshaped view (each group's channels as channels of their
own), not a loop over groups.

Running statistics are those of the first group, as the papers' checkpoints kept the first GPU's replica:
so they do not depend on the number of processes either (process 0 holds group 0; the others' running
statistics are replaced by process 0's before any evaluation).

With no layout, at one group, or in eval mode it is `nn.BatchNorm2d` itself, to the bit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .replicas import current_layout

__all__ = ["GhostBatchNorm2d"]


class GhostBatchNorm2d(nn.BatchNorm2d):
    def forward(self, x: Tensor) -> Tensor:
        layout = current_layout()
        if not self.training or layout is None or layout.count == 1:
            return super().forward(x)
        if layout.uniform:
            return self._per_group(x, layout.count)
        # An epoch's last, partial batch can split unevenly (e.g. 29 images as 8 + 7 + 7 + 7): once per epoch.
        chunks = [c for c in torch.split(x, list(layout.local_sizes)) if c.shape[0]]
        return torch.cat([super().forward(chunks[0]), *(self._normalise(c) for c in chunks[1:])])

    def _normalise(self, x: Tensor) -> Tensor:
        """Batch norm by x's own statistics, leaving the running statistics alone."""
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)

    def _per_group(self, x: Tensor, groups: int) -> Tensor:
        """Normalise each of `groups` equal consecutive groups of x by its own statistics; the first group's
        update the running statistics.

        The groups become channels of their own, (B, C, H, W) -> (B/G, G*C, H, W), so that one call of
        torch's fused batch norm normalises them all (as fast as plain batch norm; a hand-written mean and
        variance costs twice as much in eager mode). Channels-last tensors keep their layout."""
        n, c, h, w = x.shape
        size = n // groups
        weight = self.weight.repeat(groups) if self.affine else None
        bias = self.bias.repeat(groups) if self.affine else None
        running = None
        if self.track_running_stats:
            # every group's channels get running statistics; the first group's (channels 0..C-1) are kept
            self.num_batches_tracked.add_(1)
            momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            running = (self.running_mean.repeat(groups), self.running_var.repeat(groups))
        stats = running or (None, None)
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            # physical (n, h, w, c) -> (size, h, w, groups * c): channels last again
            side = (x.permute(0, 2, 3, 1).reshape(groups, size, h, w, c).permute(1, 2, 3, 0, 4)
                    .reshape(size, h, w, groups * c).permute(0, 3, 1, 2))
            y = F.batch_norm(side, *stats, weight, bias, True, momentum if running else 0.0, self.eps)
            y = (y.permute(0, 2, 3, 1).reshape(size, h, w, groups, c).permute(3, 0, 1, 2, 4)
                 .reshape(n, h, w, c).permute(0, 3, 1, 2))
        else:
            side = x.reshape(groups, size, c, h, w).transpose(0, 1).reshape(size, groups * c, h, w)
            y = F.batch_norm(side, *stats, weight, bias, True, momentum if running else 0.0, self.eps)
            y = y.reshape(size, groups, c, h, w).transpose(0, 1).reshape(n, c, h, w)
        if running:
            with torch.no_grad():
                self.running_mean.copy_(running[0][:c])
                self.running_var.copy_(running[1][:c])
        return y
