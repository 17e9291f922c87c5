"""Batch norm per replica group ("ghost batch norm", Hoffer et al. 2017, arXiv:1705.08741).

`GhostBatchNorm2d` is `nn.BatchNorm2d` (same parameters, buffers and state dict) that, in training, takes
its statistics over each group of the current `replicas.BatchLayout` rather than over the whole batch,
as each GPU of the papers' DataParallelTable did over its own slice. The groups of a batch are normalised
together through one reshape, (B, C, H, W) -> (G, B/G, C, H, W), not a loop over groups.

Running statistics are those of the first group, as the papers' checkpoints kept the first GPU's replica:
so they do not depend on the number of processes either (process 0 holds group 0; the others' running
statistics are replaced by process 0's before any evaluation).

With no layout, at one group, or in eval mode it is `nn.BatchNorm2d` itself, to the bit.
"""

from __future__ import annotations

import torch
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
        return torch.cat([self._per_group(chunks[0], 1), *(self._per_group(c, 1, update=False) for c in chunks[1:])])

    def _per_group(self, x: Tensor, groups: int, update: bool = True) -> Tensor:
        """Normalise each of `groups` equal consecutive groups of x by its own statistics; the first group's
        update the running statistics."""
        n, c, h, w = x.shape
        # float32 statistics, as cuDNN's batch norm keeps them under bf16 autocast
        grouped = x.reshape(groups, n // groups, c, h, w).float()
        var, mean = torch.var_mean(grouped, dim=(1, 3, 4), correction=0, keepdim=True)
        scale = torch.rsqrt(var + self.eps)
        if self.affine:
            scale = scale * self.weight.view(1, 1, c, 1, 1)
        y = (grouped - mean) * scale
        if self.affine:
            y = y + self.bias.view(1, 1, c, 1, 1)
        if update and self.track_running_stats:
            self._update_running_stats(mean[0].flatten(), var[0].flatten(), (n // groups) * h * w)
        return y.reshape(n, c, h, w).to(x.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, biased_var: Tensor, count: int) -> None:
        # nn.BatchNorm2d's rule: momentum (or a cumulative average when it is None), unbiased variance.
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased = biased_var * (count / max(count - 1, 1))
        self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), factor)
        self.running_var.lerp_(unbiased.detach().to(self.running_var.dtype), factor)
