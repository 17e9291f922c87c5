"""The reference way, for the benchmark only: regularizers as autograd.Functions in the style of the
public PyTorch ports, each making the host wait for the GPU in every block.

- Shake-Shake as in hysts/pytorch_image_classification: α and β drawn on the host in the block's forward
  and copied to the device. A copy from pageable host memory is `cudaMemcpyAsync` then
  `cudaStreamSynchronize`, so the host waits until every kernel queued before it has run: the same stall
  as reading a value back, twice per block.
- ShakeDrop as in owruby/ShakeDrop_pytorch: the gate drawn on the device and read back with `.item()` in
  the forward and again in the backward of every block.

`bench/engine.py` counts these synchronisations on a GPU (CUDA's sync debug mode, column syncs/step).
"""

import torch
from torch import nn

from worker.engine.regularizers import ShakeDrop, ShakeShake


class _ShakeShakeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x1, x2, alpha, beta):
        ctx.save_for_backward(beta)
        return alpha * x1 + (1 - alpha) * x2

    @staticmethod
    def backward(ctx, grad):
        (beta,) = ctx.saved_tensors
        return beta * grad, (1 - beta) * grad, None, None


class _ShakeDropFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, survival_prob):
        gate = torch.empty(1, device=x.device).bernoulli_(survival_prob)
        ctx.save_for_backward(gate)
        if gate.item() == 0:  # read back to the host: the GPU queue drains in every block
            alpha = torch.empty(x.size(0), 1, 1, 1, device=x.device).uniform_(-1, 1)
            return alpha * x
        return x

    @staticmethod
    def backward(ctx, grad):
        (gate,) = ctx.saved_tensors
        if gate.item() == 0:
            beta = torch.empty(grad.size(0), 1, 1, 1, device=grad.device).uniform_(0, 1)
            return beta * grad, None
        return grad, None


class ReferenceShakeShake(nn.Module):
    def forward(self, x1, x2):
        if not self.training:
            return 0.5 * (x1 + x2)
        # Drawn on the host, one value per image, and copied over with a blocking copy.
        alpha = torch.rand(x1.size(0), 1, 1, 1).to(x1.device)
        beta = torch.rand(x1.size(0), 1, 1, 1).to(x1.device)
        return _ShakeShakeFunction.apply(x1, x2, alpha, beta)


class ReferenceShakeDrop(nn.Module):
    def __init__(self, survival_prob):
        super().__init__()
        self.survival_prob = survival_prob

    def forward(self, x):
        return _ShakeDropFunction.apply(x, self.survival_prob) if self.training else self.survival_prob * x


def use_reference_regularizers(model: nn.Module) -> nn.Module:
    """Swap the engine's ShakeShake/ShakeDrop modules in `model` for the reference autograd.Functions."""
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, ShakeShake):
                setattr(parent, name, ReferenceShakeShake())
            elif isinstance(child, ShakeDrop):
                setattr(parent, name, ReferenceShakeDrop(child.survival_prob))
    return model
