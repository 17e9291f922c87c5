"""What a run spec can say, for forms and scripts: archs, methods, datasets, their fields, and presets.

Everything is read from the engine's spec models (one description of each field); only the presets are
written here.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, get_args

from worker.engine import spec as S

SECTIONS = {"dataset": S.DatasetSpec, "augment": S.AugmentSpec, "optim": S.OptimSpec, "schedule": S.ScheduleSpec}

# The papers' headline runs, and a small one that trains in a minute on a CPU.
PRESETS: list[dict[str, Any]] = [
    {"id": "shakedrop_pyramidnet272", "label": "ShakeDrop PyramidNet-272 α200 (CIFAR-10; paper 2.31%)",
     "spec": {"dataset": {"name": "cifar10"},
              "model": {"arch": "pyramidnet", "depth": 272, "alpha": 200, "bottleneck": True},
              "regularization": {"method": "shakedrop"}}},
    {"id": "shake_shake_26_2x96d", "label": "Shake-Shake 26 2x96d S-S-I (CIFAR-10; paper 2.86%)",
     "spec": {"dataset": {"name": "cifar10"}, "model": {"arch": "shake_resnet", "depth": 26, "width": 96},
              "regularization": {"method": "shake_shake", "forward": "shake", "backward": "shake",
                                 "level": "image"}}},
    {"id": "shake_shake_26_2x32d", "label": "Shake-Shake 26 2x32d S-S-I (CIFAR-10; paper 3.55%)",
     "spec": {"dataset": {"name": "cifar10"}, "model": {"arch": "shake_resnet", "depth": 26, "width": 32},
              "regularization": {"method": "shake_shake"}}},
    {"id": "shake_resnext_29_2x4x64d", "label": "Shake-Shake ResNeXt-29 2x4x64d S-E-I (CIFAR-100; paper 15.85%)",
     "spec": {"dataset": {"name": "cifar100"},
              "model": {"arch": "shake_resnext", "depth": 29, "cardinality": 4, "base_width": 64},
              "regularization": {"method": "shake_shake", "forward": "shake", "backward": "even",
                                 "level": "image"}}},
    {"id": "shakedrop_pyramidnet110", "label": "ShakeDrop PyramidNet-110 α270 (CIFAR-100, 300 epochs)",
     "spec": {"dataset": {"name": "cifar100"},
              "model": {"arch": "pyramidnet", "depth": 110, "alpha": 270, "bottleneck": False},
              "regularization": {"method": "shakedrop"},
              "optim": {"epochs": 300, "lr": 0.5},
              "schedule": {"kind": "multistep", "milestones": [0.5, 0.75], "gamma": 0.1}}},
    {"id": "nasnet_a_6_32", "label": "NASNet-A (6, 32) + ScheduledDropPath (CIFAR-10; paper 2.65%)",
     "spec": {"dataset": {"name": "cifar10"}, "model": {"arch": "nasnet", "cells": 6, "filters": 32},
              "regularization": {"method": "scheduled_drop_path"}}},
    {"id": "stochastic_depth_resnet110", "label": "Stochastic depth ResNet-110 (CIFAR-10)",
     "spec": {"dataset": {"name": "cifar10"}, "model": {"arch": "resnet", "depth": 110},
              "regularization": {"method": "stochastic_depth"}}},
    {"id": "demo_digits", "label": "Demo: ShakeDrop PyramidNet-20 on digits (a minute on a CPU)",
     "spec": {"dataset": {"name": "digits"},
              "model": {"arch": "pyramidnet", "depth": 20, "alpha": 24, "bottleneck": False},
              "regularization": {"method": "shakedrop"},
              "optim": {"epochs": 15, "batch_size": 64, "lr": 0.1}}},
]


def _fields(model, skip: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The fields of a spec section as the JSON schema describes them (type, default, bounds, choices)."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    out = []
    for name, prop in schema["properties"].items():
        if name in skip:
            continue
        prop = dict(prop)
        if "$ref" in prop:
            prop = {**defs[prop["$ref"].split("/")[-1]], **{k: v for k, v in prop.items() if k != "$ref"}}
        if "anyOf" in prop:  # `X | None`: describe X, say it may be null
            kinds = [p for p in prop.pop("anyOf") if p.get("type") != "null"]
            prop = {**kinds[0], **prop, "nullable": True}
        prop.pop("title", None)
        out.append({"name": name, **prop})
    return out


def _depths(arch: str, cls) -> dict[str, list[int]] | None:
    """The first valid depths, per block kind where the family has a `bottleneck` switch."""
    if "depth" not in cls.model_fields:
        return None
    if "bottleneck" in cls.model_fields:
        return {"basic": S.valid_depths(arch, limit=8), "bottleneck": S.valid_depths(arch, bottleneck=True, limit=8)}
    return {"any": S.valid_depths(arch, limit=8)}


@lru_cache
def catalog() -> dict[str, Any]:
    model_classes = get_args(get_args(S.ModelSpec)[0])
    reg_classes = get_args(get_args(S.RegularizationSpec)[0])
    datasets = S.DatasetSpec.model_json_schema()["properties"]["name"]["enum"]
    archs = []
    for cls in model_classes:
        arch = cls.model_fields["arch"].default
        archs.append({"arch": arch, "description": (cls.__doc__ or "").strip(),
                      "fields": _fields(cls, skip=("arch",)), "methods": list(S.ARCH_METHODS[arch]),
                      "paper_defaults": S.paper_defaults(arch), "depths": _depths(arch, cls),
                      "paper_defaults_by_dataset": {d: S.paper_defaults(arch, d) for d in datasets}})
    methods = [{"method": cls.model_fields["method"].default, "description": (cls.__doc__ or "").strip(),
                "fields": _fields(cls, skip=("method",))} for cls in reg_classes]
    run_fields = _fields(S.RunSpec, skip=("dataset", "model", "regularization", *SECTIONS))
    return {
        "archs": archs,
        "methods": methods,
        "datasets": datasets,
        "sections": {name: _fields(cls) for name, cls in SECTIONS.items()},
        "run": run_fields,
        "presets": [{**p, "resolved": S.parse_spec(p["spec"]).model_dump(mode="json")} for p in PRESETS],
    }
