"""What a run spec can say, for forms and scripts: archs, methods, datasets, their fields, and presets.

Everything is read from the engine's spec models (one description of each field); the presets that name a
paper's result are the papers' tables' cells (backend/tables/data.py), the others are written here.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, get_args

from worker.engine import spec as S

from .tables.data import get_table

SECTIONS = {"dataset": S.DatasetSpec, "augment": S.AugmentSpec, "optim": S.OptimSpec, "schedule": S.ScheduleSpec}

# Presets that name a paper's result are that table cell, spec and number alike (backend/tables/data.py):
# a run launched from one fills the cell. (preset id, name, table id, cell key)
PAPER_PRESETS: tuple[tuple[str, str, str, str], ...] = (
    ("shakedrop_pyramidnet272", "ShakeDrop PyramidNet-272 α200 + Random Erasing", "shakedrop_final_results",
     "pyramidnet-272-a200:cifar10"),
    ("shake_shake_26_2x96d", "Shake-Shake 26 2x96d S-S-I", "shake_shake_table1_cifar10", "s-s-i:2x96d"),
    ("shake_shake_26_2x32d", "Shake-Shake 26 2x32d S-S-I", "shake_shake_table1_cifar10", "s-s-i:2x32d"),
    ("shake_resnext_29_2x4x64d", "Shake-Shake ResNeXt-29 2x4x64d S-E-I", "shake_shake_table2_cifar100",
     "s-e-i:29-2x4x64d"),
    ("shakedrop_pyramidnet110", "ShakeDrop PyramidNet-110 α270, Pixel level, 300 epochs",
     "shakedrop_level_comparison_cifar100", "pixel:error"),
    ("nasnet_a_6_32", "NASNet-A (6, 32) + ScheduledDropPath + Cutout", "nasnet_a_cifar10", "n6-f32-cutout:error"),
    ("resdrop_resnet110", "ResDrop (stochastic depth as ShakeDrop α = β = 0) ResNet-110",
     "shakedrop_regularization_comparison", "resnet-110:resdrop"),
)

# Runs that name no paper result.
OTHER_PRESETS: list[dict[str, Any]] = [
    {"id": "demo_digits", "label": "Demo: ShakeDrop PyramidNet-20 on digits (15 epochs, a few minutes on a CPU)",
     "spec": {"dataset": {"name": "digits"},
              "model": {"arch": "pyramidnet", "depth": 20, "alpha": 24, "bottleneck": False},
              "regularization": {"method": "shakedrop"},
              "optim": {"epochs": 15, "batch_size": 64, "lr": 0.1}}},
]

DATASET_LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}


def paper_preset(preset_id: str, name: str, table_id: str, cell_key: str) -> dict[str, Any]:
    """A preset built from a table's cell: its spec, and its label with the cell's reported number."""
    table = get_table(table_id)
    [(row, cell)] = [(row, cell) for key, row, cell in table.cells() if key == cell_key]
    dataset = DATASET_LABELS[cell.spec["dataset"]["name"]]
    unverified = ", UNVERIFIED" if cell.verification == "UNVERIFIED" else ""
    return {"id": preset_id, "label": f"{name} ({dataset}; paper {cell.reported:.2f}%{unverified})",
            "spec": cell.spec,
            "table": {"id": table_id, "cell": cell_key, "title": table.title, "reported": cell.reported,
                      "verification": cell.verification}}


def presets() -> list[dict[str, Any]]:
    return [*(paper_preset(*p) for p in PAPER_PRESETS), *OTHER_PRESETS]


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
                      # A NASNet genotype is a graph, not a form field: searches and "Train this cell" set it.
                      "fields": _fields(cls, skip=("arch", "genotype")), "methods": list(S.ARCH_METHODS[arch]),
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
        "presets": [{**p, "resolved": S.parse_spec(p["spec"]).model_dump(mode="json")} for p in presets()],
    }
