"""The model families, built from a run spec. Each family lives in its own module, imported on first use."""

from __future__ import annotations

from importlib import import_module

from torch import nn

__all__ = ["build_model", "count_parameters", "FAMILIES"]

# arch -> module of this package whose `build(model_spec, regularization_spec, num_classes)` makes the net.
FAMILIES: dict[str, str] = {
    "resnet": "resnet",
    "wrn": "wrn",
    "resnext": "resnext",
    "shake_resnet": "shake_resnet",
    "shake_resnext": "shake_resnext",
    "pyramidnet": "pyramidnet",
    "nasnet": "nasnet",
}


def build_model(spec) -> nn.Module:
    """The network that `spec` (a RunSpec) describes, freshly initialised."""
    family = import_module(f"{__name__}.{FAMILIES[spec.model.arch]}")
    return family.build(spec.model, spec.regularization, spec.num_classes)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (weights, BN gamma/beta, FC), as the papers count them: no running statistics."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
