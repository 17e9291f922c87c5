"""The shake family of regularizers, as functions of tensors and the small modules that hold their settings.

Every random value is drawn on the tensor's device with torch's generator (no host round trip, no
Python RNG), made for the whole global batch and sliced to this process's images, per replica group at
"batch" level (`replicas`: the papers drew them per GPU; a run on K processes draws what one process
draws), and the forward/backward split uses the straight-through form

    y = x * b + (x * (a - b)).detach()

whose value is x * a and whose gradient is that of x * b. Plain tensor ops, so torch.compile fuses them
into the surrounding kernels and bf16 autocast applies unchanged.

In eager mode (not under torch.compile) that form costs two full-size multiplies and an add where one
multiply does: there the same values and gradients come from small autograd.Functions (`_Scale`, `_Mix`)
that do one multiply forward and one backward (Shake-Shake: one lerp forward, a multiply and a subtraction
backward). Their backward is exactly the straight-through one's; their forward is x * a (and lerp) rounded
once, where the straight-through value rounds x * b + x * (a - b): equal up to float rounding (tested).
Nothing in them reads a value back to the host.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .replicas import current_layout

__all__ = [
    "shake_shake",
    "shake_drop",
    "shake_drop_scales",
    "stochastic_depth",
    "drop_path",
    "dropout",
    "linear_decay",
    "ShakeShake",
    "ShakeDrop",
    "StochasticDepth",
    "Dropout",
    "branch_regularizer",
    "branch_mix",
]

_LEVELS = ("batch", "image", "channel", "pixel")


def _draw_shape(x: Tensor, level: str) -> tuple[int, ...]:
    """Shape of one random draw per batch, per image, per (image, channel) or per element of x."""
    ones = (1,) * (x.dim() - 2)
    if level == "batch":
        return (1, 1, *ones)
    if level == "image":
        return (x.shape[0], 1, *ones)
    if level == "channel":
        return (x.shape[0], x.shape[1], *ones)
    if level == "pixel":
        return tuple(x.shape)
    raise ValueError(f"level must be one of {_LEVELS}, got {level!r}")


def _rand(x: Tensor, level: str) -> Tensor:
    """U(0, 1) in float32, one value per batch (per replica group under a layout), image, (image, channel)
    or element of x, shaped to broadcast against x.

    Under a `replicas.BatchLayout` the draw covers the global batch (every group, every image) and this
    process keeps its slice, so the values do not depend on how many processes share the batch. With no
    layout, or one process holding a one-group batch, the draw is exactly the plain one."""
    shape = _draw_shape(x, level)
    layout = current_layout()
    if layout is None:
        return torch.rand(shape, device=x.device)
    if level == "batch":
        if layout.groups == 1:
            return torch.rand(shape, device=x.device)
        per_group = torch.rand((layout.groups, *shape[1:]), device=x.device)[layout.first:layout.first + layout.count]
        if layout.count == 1:
            return per_group
        if layout.uniform:  # each group's value repeated over its images: an expand and a reshape
            size = layout.local_sizes[0]
            return per_group.unsqueeze(1).expand(layout.count, size, *shape[1:]).reshape(x.shape[0], *shape[1:])
        sizes = torch.tensor(layout.local_sizes, device=x.device)
        return per_group.repeat_interleave(sizes, dim=0, output_size=x.shape[0])
    u = torch.rand((layout.global_size, *shape[1:]), device=x.device)
    return u if layout.whole else u[layout.offset:layout.offset + layout.local_size]


def _uniform(x: Tensor, level: str, low: float, high: float) -> Tensor:
    # Drawn in float32 and cast, so bf16 does not coarsen the distribution before it meets the data.
    return (_rand(x, level) * (high - low) + low).to(x.dtype)


def _compiling() -> bool:
    """Whether dynamo is tracing this call (torch >= 2.3 has torch.compiler.is_compiling)."""
    is_compiling = getattr(torch.compiler, "is_compiling", None) or torch._dynamo.is_compiling
    return is_compiling()


class _Scale(torch.autograd.Function):
    """x * forward_scale forward; grad * backward_scale backward (the straight-through form's gradient)."""

    @staticmethod
    def forward(ctx, x: Tensor, forward_scale, backward_scale):
        if isinstance(backward_scale, Tensor):
            ctx.save_for_backward(backward_scale)
        else:
            ctx.backward_scale = backward_scale
        return x * forward_scale

    @staticmethod
    def backward(ctx, grad: Tensor):
        scale = ctx.saved_tensors[0] if ctx.saved_tensors else ctx.backward_scale
        return grad * scale, None, None


class _Mix(torch.autograd.Function):
    """lerp(b2, b1, alpha) = b2 + alpha * (b1 - b2) forward; gradients beta * g and g - beta * g backward,
    as autograd gives the straight-through `b2 + _scaled(b1 - b2, alpha, beta)` (bitwise)."""

    @staticmethod
    def forward(ctx, branch1: Tensor, branch2: Tensor, alpha, beta):
        if isinstance(beta, Tensor):
            ctx.save_for_backward(beta)
        else:
            ctx.beta = beta
        return torch.lerp(branch2, branch1, alpha)

    @staticmethod
    def backward(ctx, grad: Tensor):
        beta = ctx.saved_tensors[0] if ctx.saved_tensors else ctx.beta
        grad1 = grad * beta
        return grad1, grad - grad1, None, None


def _scaled(x: Tensor, forward_scale: Tensor | float, backward_scale: Tensor | float) -> Tensor:
    """x * forward_scale in value, with the gradient of x * backward_scale.

    The scales are small (one value per batch, image or channel) except at pixel level, so
    `x * b + (x * (a - b)).detach()` costs two full-size multiplies and an add, which compile fuses; in eager
    mode `_Scale` does one multiply each way.
    """
    if not _compiling():
        return _Scale.apply(x, forward_scale, backward_scale)
    return x * backward_scale + (x * (forward_scale - backward_scale)).detach()


def _mixed(branch1: Tensor, branch2: Tensor, alpha: Tensor | float, beta: Tensor | float) -> Tensor:
    """alpha * branch1 + (1 - alpha) * branch2 in value, with the gradients of the beta mix."""
    if not _compiling():
        return _Mix.apply(branch1, branch2, alpha, beta)
    # a*b1 + (1-a)*b2 = b2 + a*(b1 - b2): one difference serves the forward and the backward mix.
    return branch2 + _scaled(branch1 - branch2, alpha, beta)


def shake_shake(branch1: Tensor, branch2: Tensor, *, forward: str = "shake", backward: str = "shake",
                level: str = "image", training: bool = True) -> Tensor:
    """Shake-Shake (Gastaldi 2017, eq. 1): `a*b1 + (1-a)*b2` forward, gradients `b*g` and `(1-b)*g`.

    forward: "shake" draws a ~ U(0,1), "even" uses 0.5. backward: "shake" draws an independent
    b ~ U(0,1), "even" uses 0.5, "keep" reuses a. level: "batch" (one value for the whole batch) or
    "image" (one per sample). At test time the branches are averaged.
    """
    if forward not in ("shake", "even") or backward not in ("shake", "even", "keep"):
        raise ValueError(f"unknown shake-shake variant forward={forward!r} backward={backward!r}")
    if backward == "keep" and forward != "shake":
        raise ValueError("backward='keep' needs forward='shake'")
    if level not in ("batch", "image"):
        raise ValueError(f"shake-shake level must be 'batch' or 'image', got {level!r}")
    if not training or (forward == "even" and backward == "even"):
        return 0.5 * (branch1 + branch2)
    alpha = _uniform(branch1, level, 0.0, 1.0) if forward == "shake" else 0.5
    beta = alpha if backward == "keep" else _uniform(branch1, level, 0.0, 1.0) if backward == "shake" else 0.5
    return _mixed(branch1, branch2, alpha, beta)


def shake_drop(x: Tensor, *, survival_prob: float, alpha_range: tuple[float, float] = (-1.0, 1.0),
               beta_range: tuple[float, float] = (0.0, 1.0), level: str = "image",
               gate_level: str | None = None, training: bool = True) -> Tensor:
    """ShakeDrop (Yamada et al. 2018, eq. 8): scale x by `g + a - g*a` forward and `g + b - g*b` backward.

    g ~ Bernoulli(survival_prob); a ~ U(alpha_range); b ~ U(beta_range), independent of a. `level` sets the
    granularity of g, a and b (batch, image, channel or pixel); `gate_level` overrides it for g alone
    (the authors' code: gate per batch, a and b per pixel). At test time x is scaled by E[g + a - g*a],
    which is survival_prob for the symmetric alpha_range (-1, 1).
    """
    forward_scale, backward_scale = shake_drop_scales(
        x, survival_prob=survival_prob, alpha_range=alpha_range, beta_range=beta_range, level=level,
        gate_level=gate_level, training=training)
    if not training:
        return forward_scale * x
    return _scaled(x, forward_scale, backward_scale)


def shake_drop_scales(x: Tensor, *, survival_prob: float, alpha_range: tuple[float, float] = (-1.0, 1.0),
                      beta_range: tuple[float, float] = (0.0, 1.0), level: str = "image",
                      gate_level: str | None = None, training: bool = True) -> tuple[Tensor | float, Tensor | float]:
    """ShakeDrop's forward and backward scales for x (`shake_drop` is x scaled by them), drawn as it draws
    them: for a caller that folds the scaling into another op (PyramidNet's shortcut addition in eager mode).
    At test time both are the float E[g + a - g*a]."""
    if not 0.0 <= survival_prob <= 1.0:
        raise ValueError(f"survival_prob must be in [0, 1], got {survival_prob}")
    if not training:
        expected_alpha = 0.5 * (alpha_range[0] + alpha_range[1])
        expected = survival_prob + (1 - survival_prob) * expected_alpha
        return expected, expected
    gate = (_rand(x, gate_level or level) < survival_prob).to(x.dtype)
    alpha = _uniform(x, level, *alpha_range)
    beta = _uniform(x, level, *beta_range)
    # g + (1-g)a equals the paper's g + a - g*a and is exact for g in {0, 1}.
    return gate + (1 - gate) * alpha, gate + (1 - gate) * beta


def stochastic_depth(x: Tensor, *, survival_prob: float, level: str = "batch", training: bool = True) -> Tensor:
    """Stochastic depth (Huang et al. 2016): keep the residual branch with probability survival_prob.

    level "batch" drops the branch for the whole mini-batch (the paper), "image" per sample. At test
    time the branch is scaled by survival_prob. ShakeDrop with alpha = beta = 0 reduces to this.
    """
    if not 0.0 <= survival_prob <= 1.0:
        raise ValueError(f"survival_prob must be in [0, 1], got {survival_prob}")
    if level not in ("batch", "image"):
        raise ValueError(f"stochastic depth level must be 'batch' or 'image', got {level!r}")
    if not training:
        return survival_prob * x
    gate = (_rand(x, level) < survival_prob).to(x.dtype)
    return gate * x


def drop_path(x: Tensor, keep_prob: Tensor | float, *, training: bool = True) -> Tensor:
    """NASNet's drop path: per sample, zero x with probability 1 - keep_prob, else scale by 1/keep_prob.

    `x / keep * floor(keep + U)` as in TF-slim's nasnet_utils; keep_prob may be a 0-d tensor so that a
    schedule that changes it every step does not recompile a compiled model. Identity at test time.
    """
    if not training:
        return x
    keep = torch.as_tensor(keep_prob, device=x.device, dtype=torch.float32)
    mask = torch.floor(keep + _rand(x, "image"))
    return x * (mask / keep).to(x.dtype)


def dropout(x: Tensor, p: float, *, training: bool = True) -> Tensor:
    """Dropout (Wide ResNet's, between a block's convolutions): each element zeroed with probability p, the
    rest scaled by 1/(1-p). Its own draw rather than nn.Dropout's, so that it is sliced like the others."""
    if not training or p == 0:
        return x
    keep = (_rand(x, "pixel") >= p).to(x.dtype)
    return x * keep * (1.0 / (1.0 - p))


def linear_decay(block: int, num_blocks: int, p_last: float) -> float:
    """Survival probability of block `block` (1-based) of `num_blocks`: p_l = 1 - (l / L)(1 - p_L)."""
    if not 1 <= block <= num_blocks:
        raise ValueError(f"block must be in 1..{num_blocks}, got {block}")
    return 1.0 - block / num_blocks * (1.0 - p_last)


# ------------------------------------------------------------------------------------------ modules

class ShakeShake(nn.Module):
    """Mixes the two branches of a Shake-Shake block (`none` in the spec is Even-Even)."""

    def __init__(self, forward: str = "shake", backward: str = "shake", level: str = "image"):
        super().__init__()
        self.forward_mode, self.backward_mode, self.level = forward, backward, level

    def forward(self, branch1: Tensor, branch2: Tensor) -> Tensor:
        return shake_shake(branch1, branch2, forward=self.forward_mode, backward=self.backward_mode,
                           level=self.level, training=self.training)

    def extra_repr(self) -> str:
        return f"forward={self.forward_mode}, backward={self.backward_mode}, level={self.level}"


class ShakeDrop(nn.Module):
    def __init__(self, survival_prob: float, alpha_range=(-1.0, 1.0), beta_range=(0.0, 1.0),
                 level: str = "image", gate_level: str | None = None):
        super().__init__()
        self.survival_prob, self.level, self.gate_level = survival_prob, level, gate_level
        self.alpha_range, self.beta_range = tuple(alpha_range), tuple(beta_range)

    def forward(self, x: Tensor) -> Tensor:
        return shake_drop(x, **self._settings())

    def scales(self, x: Tensor) -> tuple[Tensor | float, Tensor | float]:
        """The forward and backward scales `forward(x)` applies, for a caller that folds them into its own op."""
        return shake_drop_scales(x, **self._settings())

    def _settings(self) -> dict:
        return {"survival_prob": self.survival_prob, "alpha_range": self.alpha_range, "beta_range": self.beta_range,
                "level": self.level, "gate_level": self.gate_level, "training": self.training}

    def extra_repr(self) -> str:
        return (f"survival_prob={self.survival_prob:.4f}, alpha_range={self.alpha_range}, "
                f"beta_range={self.beta_range}, level={self.level}, gate_level={self.gate_level}")


class Dropout(nn.Module):
    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, training=self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class StochasticDepth(nn.Module):
    def __init__(self, survival_prob: float, level: str = "batch"):
        super().__init__()
        self.survival_prob, self.level = survival_prob, level

    def forward(self, x: Tensor) -> Tensor:
        return stochastic_depth(x, survival_prob=self.survival_prob, level=self.level, training=self.training)

    def extra_repr(self) -> str:
        return f"survival_prob={self.survival_prob:.4f}, level={self.level}"


def branch_regularizer(regularization, block: int, num_blocks: int) -> nn.Module:
    """The module applied to the output of residual branch `block` (1-based) of a single-branch net."""
    method = regularization.method
    if method == "none":
        return nn.Identity()
    p = linear_decay(block, num_blocks, regularization.p_last)
    if method == "shakedrop":
        return ShakeDrop(p, regularization.alpha_range, regularization.beta_range, regularization.level,
                         regularization.gate_level)
    if method == "stochastic_depth":
        return StochasticDepth(p, regularization.level)
    raise ValueError(f"regularization {method!r} does not apply to a single-branch residual net")


def branch_mix(regularization) -> nn.Module:
    """The module that mixes the two branches of a two-branch net."""
    if regularization.method == "none":
        return ShakeShake("even", "even")
    if regularization.method == "shake_shake":
        return ShakeShake(regularization.forward, regularization.backward, regularization.level)
    raise ValueError(f"regularization {regularization.method!r} does not apply to a two-branch net")
