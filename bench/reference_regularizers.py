"""The reference way, for the benchmark only: regularizers as autograd.Functions in the style of the
public PyTorch ports (hysts' shake-shake draws alpha on the host and copies it over; owruby's ShakeDrop
reads its gate back with `.item()`), each forcing a host round trip in every block.
"""

import torch
from torch import nn

from worker.engine.regularizers import ShakeDrop, ShakeShake


class _ShakeShakeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x1, x2):
        alpha = torch.rand(x1.size(0), 1, 1, 1).to(x1.device)  # drawn on the host, copied per block
        return alpha * x1 + (1 - alpha) * x2

    @staticmethod
    def backward(ctx, grad):
        beta = torch.rand(grad.size(0), 1, 1, 1).to(grad.device)
        return beta * grad, (1 - beta) * grad


class _ShakeDropFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, survival_prob):
        gate = torch.empty(1, device=x.device).bernoulli_(survival_prob)
        ctx.save_for_backward(gate)
        if gate.item() == 0:  # the host read-back that stalls the GPU queue in every block
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
        return _ShakeShakeFunction.apply(x1, x2) if self.training else 0.5 * (x1 + x2)


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
