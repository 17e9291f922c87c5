"""The papers' tables as data: every cell's reported number, how that number was verified, where it comes
from, and the run spec that reproduces it with the paper's own settings (sources and verification levels:
docs/tables.md).

A position that the paper's table leaves empty ("–") is no cell at all. A number the paper reports but that
no source we could read gives is a cell with `reported=None` and verification "missing": it can still be
reproduced. Specs write every training setting out (rather than leaning on the engine's per-arch defaults)
so that this file reads as the paper's setting; `worker.engine.spec.parse_spec` resolves and validates them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["VERIFICATION_LEVELS", "VERIFICATION_MEANINGS", "Column", "Cell", "Row", "PaperTable", "PAPER_TABLES",
           "get_table"]

# How a reported number was checked, strongest first; the table page's legend and docs/tables.md say the same.
VERIFICATION_MEANINGS = {
    "V-code": "read in the authors' own repository or README",
    "V-calc": "computed from the architecture",
    "V-2nd": "read in a secondary source: a transcription or translation of the paper, or a later paper or "
             "README quoting it",
    "UNVERIFIED": "from a summary of the paper (an AI-generated or blog summary) that no primary source confirmed",
    "missing": "the paper reports a number here that no source we could read gives",
}
VERIFICATION_LEVELS = tuple(VERIFICATION_MEANINGS)


@dataclass(frozen=True)
class Column:
    key: str
    label: str


@dataclass(frozen=True)
class Cell:
    column: str
    reported: float | None
    verification: str
    spec: dict[str, Any]
    source: str = ""  # where this number comes from, when not from the table's own source
    note: str = ""

    def __post_init__(self):
        assert self.verification in VERIFICATION_LEVELS, self.verification
        assert (self.reported is None) == (self.verification == "missing"), self


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class PaperTable:
    id: str
    title: str
    source: str
    dataset: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    config: dict[str, Any] = field(default_factory=dict)  # the training settings, for display
    notes: tuple[str, ...] = ()

    def cells(self) -> Iterator[tuple[str, Row, Cell]]:
        """(cell key, row, cell) for every cell, row by row."""
        for row in self.rows:
            for cell in row.cells:
                yield f"{row.key}:{cell.column}", row, cell

    @property
    def cell_keys(self) -> list[str]:
        return [key for key, _, _ in self.cells()]

    def column_label(self, key: str) -> str:
        return next(c.label for c in self.columns if c.key == key)

    def cell_source(self, row: Row, cell: Cell) -> str:
        where = f"row {row.label}, column {self.column_label(cell.column)}"
        return f"{cell.source or self.source}; {where}"

    @property
    def verification_levels(self) -> dict[str, str]:
        """The verification levels of its numbers, strongest first, with what each means."""
        levels = {cell.verification for _, _, cell in self.cells()}
        return {level: meaning for level, meaning in VERIFICATION_MEANINGS.items() if level in levels}

    @property
    def verification(self) -> str:
        """The verification levels of its numbers, strongest first (e.g. "V-2nd, UNVERIFIED")."""
        return ", ".join(self.verification_levels)


# --------------------------------------------------------------------------------------- shared settings

CROP_FLIP = {"crop_padding": 4, "flip": True, "cutout": 0, "random_erasing": 0.0}


def _sgd(epochs: int, batch_size: int, lr: float, weight_decay: float, *, gpus: int, **extra) -> dict[str, Any]:
    """SGD with Nesterov momentum 0.9; `gpus`: the GPUs the paper split each batch over, each normalising its
    own slice (replica_batch = batch_size / gpus)."""
    return {"epochs": epochs, "batch_size": batch_size, "replica_batch": batch_size // gpus, "lr": lr,
            "momentum": 0.9, "nesterov": True, "weight_decay": weight_decay, **extra}


COSINE = {"kind": "cosine", "warmup_epochs": 0}


def _spec(dataset: str, model: dict, regularization: dict, optim: dict, schedule: dict,
          augment: dict | None = None) -> dict[str, Any]:
    return {"dataset": {"name": dataset}, "model": model, "regularization": regularization,
            "augment": augment or CROP_FLIP, "optim": optim, "schedule": schedule}


# ------------------------------------------------------------------------- Shake-Shake (Gastaldi 2017)

SHAKE_SHAKE_SOURCE = "Gastaldi 2017, arXiv:1705.07485"

# Forward-Backward-Level (Gastaldi 2017, Table 1); Even-Even has no level and is the plain two-branch net
# (method none).
_FBL_NAMES = {"shake": "Shake", "even": "Even", "keep": "Keep", "batch": "Batch", "image": "Image"}


def _shake_shake_reg(forward: str, backward: str, level: str | None) -> dict[str, Any]:
    if (forward, backward) == ("even", "even"):
        return {"method": "none"}
    return {"method": "shake_shake", "forward": forward, "backward": backward, "level": level}


def _fbl_key(forward: str, backward: str, level: str | None) -> str:
    return "-".join(x[0] for x in (forward, backward, level) if x)


def _fbl_label(forward: str, backward: str, level: str | None) -> str:
    return "-".join(_FBL_NAMES[x] if x else "n/a" for x in (forward, backward, level))


# 2 GPUs x 64 (the README's `-nGPU 2 -batchSize 128`).
SHAKE_SHAKE_C10_OPTIM = _sgd(1800, 128, 0.2, 1e-4, gpus=2)


def _table1_spec(width: int, forward: str, backward: str, level: str | None) -> dict[str, Any]:
    return _spec("cifar10", {"arch": "shake_resnet", "depth": 26, "width": width},
                 _shake_shake_reg(forward, backward, level), SHAKE_SHAKE_C10_OPTIM, COSINE)


_T1_WIDTHS = (32, 64, 96, 112)
# (forward, backward, level) and the reported errors for widths 32, 64, 96, 112 (None: "–" in the paper).
_T1_ROWS = [
    (("even", "even", None), (4.27, 3.76, 3.58, None)),
    (("even", "shake", "batch"), (4.44, None, None, None)),
    (("shake", "keep", "batch"), (4.11, None, None, None)),
    (("shake", "even", "batch"), (3.47, 3.30, None, None)),
    (("shake", "shake", "batch"), (3.67, 3.07, None, None)),
    (("even", "shake", "image"), (4.11, None, None, None)),
    (("shake", "keep", "image"), (4.09, None, None, None)),
    (("shake", "even", "image"), (3.47, 3.20, None, None)),
    (("shake", "shake", "image"), (3.55, 2.98, 2.86, 2.82)),
]
_T1_CELL_EXTRA = {
    ("s-s-i", 96): {"note": "mean over 5 runs per the xgastaldi/shake-shake README (the paper's section 2.3, as "
                            "a translation of it reads, says 3); median 2.87, min 2.72, max 2.95 (V-2nd)"},
    ("s-s-i", 112): {"source": "AutoAugment (Cubuk et al. 2018), footnote 1 of the xgastaldi/shake-shake README",
                     "note": "from the AutoAugment paper, not the Shake-Shake paper; its authors trained with "
                             "their own settings, the spec uses this table's"},
}


def _table1() -> PaperTable:
    rows = []
    for (forward, backward, level), values in _T1_ROWS:
        key = _fbl_key(forward, backward, level)
        cells = tuple(
            Cell(column=f"2x{width}d", reported=value, verification="V-code",
                 spec=_table1_spec(width, forward, backward, level), **_T1_CELL_EXTRA.get((key, width), {}))
            for width, value in zip(_T1_WIDTHS, values, strict=True) if value is not None)
        rows.append(Row(key=key, label=_fbl_label(forward, backward, level), cells=cells))
    return PaperTable(
        id="shake_shake_table1_cifar10",
        title="Shake-Shake Table 1: Forward-Backward-Level on CIFAR-10",
        source=f"{SHAKE_SHAKE_SOURCE}, Table 1; xgastaldi/shake-shake README",
        dataset="cifar10",
        columns=tuple(Column(f"2x{w}d", f"26 2x{w}d") for w in _T1_WIDTHS),
        rows=tuple(rows),
        config={
            "model": "Shake-Shake ResNet-26 2xKd (shake_resnet, depth 26, width K)",
            "epochs": 1800, "batch_size": 128, "replica_batch": 64, "lr": 0.2,
            "schedule": "cosine to 0, per iteration, no restart",
            "optimizer": "SGD, Nesterov momentum 0.9, weight decay 1e-4",
            "augmentation": "random crop (zero padding 4) and horizontal flip",
            "paper's runs per cell": "mean of 3 runs (2x96d: 5 runs per the README; the paper's section 2.3, "
                                     "as a translation of it reads, says 3)",
            "verification": "V-code (official README)",
        },
        notes=(
            "Test error (%), top-1 at the last epoch.",
            "Even-Even has no level: it is the plain two-branch net (regularization method 'none').",
            "The paper trained batch 128 on 2 GPUs (one-GPU equivalent: batch 64, lr 0.1); the specs keep the "
            "total batch 128 and lr 0.2 with replica_batch 64: batch norm and Batch-level coefficients per "
            "group of 64 images, as each GPU replica of the official code had them, on any number of GPUs.",
            "2x112d S-S-I 2.82 is from the AutoAugment paper (README footnote 1), not from the Shake-Shake paper.",
            "Positions marked '–' in the paper are not cells.",
        ),
    )


def _table2() -> PaperTable:
    optim = _sgd(1800, 32, 0.025, 5e-4, gpus=2)  # `-batchSize 32 -nGPU 2`: 16 images per GPU
    model = {"arch": "shake_resnext", "depth": 29, "cardinality": 4, "base_width": 64}
    rows_data = [
        (("even", "even", None), 16.34, "V-2nd", {"source": f"{SHAKE_SHAKE_SOURCE}, Table 2 (a translation of "
                                                            "the paper)"}),
        (("shake", "even", "image"), 15.85, "V-code",
         {"source": f"{SHAKE_SHAKE_SOURCE}, Table 2; xgastaldi/shake-shake README",
          "note": "median 15.85, min 15.66, max 16.04 (V-code README and V-2nd)"}),
        (("shake", "shake", "image"), 15.97, "V-2nd",
         {"source": "owruby/shake-shake_pytorch README quoting the paper (accuracy 84.03%)"}),
    ]
    rows = tuple(
        Row(key=_fbl_key(*fbl), label=_fbl_label(*fbl),
            cells=(Cell(column="29-2x4x64d", reported=value, verification=level,
                        spec=_spec("cifar100", model, _shake_shake_reg(*fbl), optim, COSINE), **extra),))
        for fbl, value, level, extra in rows_data)
    return PaperTable(
        id="shake_shake_table2_cifar100",
        title="Shake-Shake Table 2: CIFAR-100, ResNeXt-29 2x4x64d",
        source=f"{SHAKE_SHAKE_SOURCE}, Table 2",
        dataset="cifar100",
        columns=(Column("29-2x4x64d", "29 2x4x64d"),),
        rows=rows,
        config={
            "model": "Shake-Shake ResNeXt-29 2x4x64d (shake_resnext, depth 29, cardinality 4, base width 64), "
                     "no pre-activation",
            "epochs": 1800, "batch_size": 32, "replica_batch": 16, "lr": 0.025,
            "schedule": "cosine to 0, per iteration, no restart",
            "optimizer": "SGD, Nesterov momentum 0.9, weight decay 5e-4",
            "augmentation": "random crop (zero padding 4) and horizontal flip",
            "verification": "V-2nd (translation of the paper)",
        },
        notes=(
            "Test error (%), top-1 at the last epoch.",
            "The paper trained batch 32 on 2 GPUs (reduced from 128, otherwise its E-E-B baseline was poor); "
            "the specs keep the total batch 32 with replica_batch 16 (batch norm per GPU's 16 images).",
            "Cutout's README lists Shake-shake 15.58 (+cutout 15.20) on CIFAR-100: probably 15.85 mistyped, or "
            "their own run.",
        ),
    )


# ------------------------------------------------------------------------- ShakeDrop (Yamada et al.)

SHAKEDROP_SOURCE = "Yamada et al., arXiv:1802.02375"

# The ShakeDrop CIFAR tables' setting (official README command, V-code): PyramidNet-110 a270, 300 epochs,
# lr 0.5 times 0.1 at epochs 150 and 225 (fractions 0.5 and 0.75), batch 128 on 4 GPUs (`-nGPU 4`: 32 each),
# wd 1e-4.
SHAKEDROP_OPTIM = _sgd(300, 128, 0.5, 1e-4, gpus=4)
SHAKEDROP_SCHEDULE = {"kind": "multistep", "milestones": [0.5, 0.75], "gamma": 0.1, "warmup_epochs": 0}
PYRAMIDNET_110_A270 = {"arch": "pyramidnet", "depth": 110, "alpha": 270, "bottleneck": False}
RESNET_110 = {"arch": "resnet", "depth": 110, "bottleneck": False}

SHAKEDROP_CONFIG = {
    "model": "PyramidNet-110 alpha 270, basic blocks (pyramidnet, depth 110, alpha 270); ShakeDrop after the "
             "last BN of each residual branch, p_L 0.5",
    "epochs": 300, "batch_size": 128, "replica_batch": 32, "lr": 0.5,
    "schedule": "multistep: lr x 0.1 at epochs 150 and 225 (fractions 0.5 and 0.75)",
    "optimizer": "SGD, Nesterov momentum 0.9, weight decay 1e-4",
    "augmentation": "random crop (zero padding 4) and horizontal flip",
    "verification": "V-code (official README command); paper text UNVERIFIED",
}


def _shakedrop(alpha_range=(-1.0, 1.0), beta_range=(0.0, 1.0), level: str = "batch") -> dict[str, Any]:
    # The paper's level is the granularity of alpha and beta; the authors' code draws the gate b once per
    # mini-batch whatever the level, so gate_level is "batch" (left out where it equals the level, so that
    # an equivalent spec written without it matches the same runs).
    reg = {"method": "shakedrop", "p_last": 0.5, "alpha_range": list(alpha_range),
           "beta_range": list(beta_range), "level": level}
    if level != "batch":
        reg["gate_level"] = "batch"
    return reg


VANILLA = {"method": "none"}
RESDROP = _shakedrop((0.0, 0.0), (0.0, 0.0))  # alpha = beta = 0: b + alpha - b*alpha = b, i.e. ResDrop


def _cifar100_shakedrop(model: dict, regularization: dict) -> dict[str, Any]:
    return _spec("cifar100", model, regularization, SHAKEDROP_OPTIM, SHAKEDROP_SCHEDULE)


AI_SUMMARY = "an AI-generated summary of the paper's v3 (UNVERIFIED)"


def _alpha_beta_table() -> PaperTable:
    column = "error"
    rows = (
        Row("vanilla", "α = 1, β = 1 (vanilla PyramidNet)",
            (Cell(column, 18.01, "UNVERIFIED", _cifar100_shakedrop(PYRAMIDNET_110_A270, VANILLA),
                  source=AI_SUMMARY, note="α = β = 1 makes b + α − bα = 1: the plain net (method 'none')"),)),
        Row("resdrop", "α = 0, β = 0 (= ResDrop)",
            (Cell(column, 17.74, "UNVERIFIED", _cifar100_shakedrop(PYRAMIDNET_110_A270, RESDROP),
                  source=AI_SUMMARY, note="ShakeDrop with α = β = 0 is ResDrop (stochastic depth), gate per "
                                          "mini-batch"),)),
        Row("a-1-1_b-0-1_batch", "α ∈ [−1, 1], β ∈ [0, 1], Batch",
            (Cell(column, 16.22, "V-2nd", _cifar100_shakedrop(PYRAMIDNET_110_A270, _shakedrop(level="batch")),
                  source="owruby/shake-drop_pytorch README quoting the paper (accuracy 83.78%)"),)),
    )
    return PaperTable(
        id="shakedrop_alpha_beta_sweep_cifar100",
        title="ShakeDrop: α and β ranges, PyramidNet-110 α270 on CIFAR-100",
        source=f"{SHAKEDROP_SOURCE}, α/β range table",
        dataset="cifar100",
        columns=(Column(column, "CIFAR-100 error (%)"),),
        rows=rows,
        config=SHAKEDROP_CONFIG,
        notes=(
            "Test error (%) at the last epoch.",
            "Rows recovered: three. Other combinations (β = α, β ∈ [−1, 1], α ∈ [−2, 2], 1-branch Shake without "
            "the ResDrop switch) were not retrievable. Text (V-2nd): α ∈ [−1, 1] with β ∈ [0, 1] was the best.",
            "Level is the granularity of α and β; the gate b is drawn per mini-batch as in the authors' code. "
            "The authors trained on 4 GPUs (32 images each), so their per-batch draws and batch norm covered 32 "
            "images: replica_batch 32.",
        ),
    )


def _level_table() -> PaperTable:
    column = "error"
    levels = [("batch", 16.22, "V-2nd", "owruby/shake-drop_pytorch README quoting the paper (accuracy 83.78%)"),
              ("image", None, "missing", ""), ("channel", None, "missing", ""),
              ("pixel", 15.78, "V-code", "imenurok/ShakeDrop README (official code)")]
    rows = tuple(
        Row(level, level.capitalize(),
            (Cell(column, value, verification, _cifar100_shakedrop(PYRAMIDNET_110_A270, _shakedrop(level=level)),
                  source=source, note="" if value is not None else "reported in the paper, not retrieved"),))
        for level, value, verification, source in levels)
    return PaperTable(
        id="shakedrop_level_comparison_cifar100",
        title="ShakeDrop: level of α and β, PyramidNet-110 α270 on CIFAR-100",
        source=f"{SHAKEDROP_SOURCE}, level table",
        dataset="cifar100",
        columns=(Column(column, "CIFAR-100 error (%)"),),
        rows=rows,
        config=SHAKEDROP_CONFIG,
        notes=(
            "Test error (%) at the last epoch; α ∈ [−1, 1], β ∈ [0, 1].",
            "Image and Channel are in the paper but their numbers were not retrieved: the cells are kept "
            "(reported unknown) so that they can be reproduced.",
            "Level is the granularity of α and β; the gate b is drawn per mini-batch as in the authors' code.",
            "Text (V-2nd): Pixel is best but memory-hungry; Image was used afterwards.",
        ),
    )


def _regularization_table() -> PaperTable:
    columns = (Column("vanilla", "Vanilla"), Column("resdrop", "ResDrop (RandomDrop)"),
               Column("shakedrop", "ShakeDrop"))
    # ShakeDrop cells: Pixel level, the official code's setting behind the one verified number (15.78).
    regs = {"vanilla": VANILLA, "resdrop": RESDROP, "shakedrop": _shakedrop(level="pixel")}
    rows_data = [
        ("resnet-110", "ResNet-110", RESNET_110,
         {"vanilla": (27.42, "UNVERIFIED"), "resdrop": (24.07, "UNVERIFIED"), "shakedrop": (23.74, "UNVERIFIED")},
         "ShakeLab's ResNet is pre-activation (with a BN closing the branch under ShakeDrop); the paper's "
         "ResNet-110 is the original one"),
        ("pyramidnet-110-a270", "PyramidNet-110 α270", PYRAMIDNET_110_A270,
         {"vanilla": (18.01, "UNVERIFIED"), "resdrop": (17.74, "UNVERIFIED"), "shakedrop": (15.78, "V-code")}, ""),
    ]
    rows = []
    for key, label, model, values, note in rows_data:
        cells = []
        for column in columns:
            value, verification = values[column.key]
            source = "imenurok/ShakeDrop README (official code)" if verification == "V-code" else AI_SUMMARY
            cells.append(Cell(column.key, value, verification, _cifar100_shakedrop(model, regs[column.key]),
                              source=source, note=note))
        rows.append(Row(key, label, tuple(cells)))
    return PaperTable(
        id="shakedrop_regularization_comparison",
        title="ShakeDrop: regularizers across architectures on CIFAR-100",
        source=f"{SHAKEDROP_SOURCE}, comparison across ResNet/WRN/ResNeXt/PyramidNet",
        dataset="cifar100",
        columns=columns,
        rows=tuple(rows),
        config={**SHAKEDROP_CONFIG,
                "model": "ResNet-110 and PyramidNet-110 alpha 270 (basic blocks)",
                "verification": "V-code for PyramidNet-110 (official README command); UNVERIFIED that the paper "
                                "trained the other architectures with the same setting"},
        notes=(
            "Test error (%) at the last epoch. Mostly missing: the two recovered rows only (the ResNet(EraseReLU), "
            "WRN and ResNeXt rows were not retrieved).",
            "The 1-branch Shake column (ShakeDrop without the ResDrop switch: b = 0 in every block) is left "
            "out: its numbers were not retrieved and the run spec cannot express it (p_l follows the linear "
            "decay rule).",
            "ResDrop is ShakeDrop with α = β = 0 (gate per mini-batch); ShakeDrop cells use Pixel-level α and "
            "β with the gate per mini-batch (the official code, behind the verified 15.78).",
            "Qualitative (V-2nd): the residual branch must end with BN; PyramidNet + ShakeDrop is the best "
            "combination; WRN-28-10 without an extra BN gets worse with ShakeDrop.",
        ),
    )


def _final_results_table() -> PaperTable:
    model = {"arch": "pyramidnet", "depth": 272, "alpha": 200, "bottleneck": True}
    # "randomly fills a part of the training image" (V-2nd): Random Erasing, p 0.5 (its paper's default).
    augment = {**CROP_FLIP, "random_erasing": 0.5}
    reg = _shakedrop(level="image")  # Image level "used afterwards" (V-2nd)

    def spec(dataset: str) -> dict[str, Any]:
        # The split of these runs is not in the official repository: the authors' code, 4 GPUs x 32.
        return _spec(dataset, model, reg, _sgd(1800, 128, 0.1, 1e-4, gpus=4), COSINE, augment)

    return PaperTable(
        id="shakedrop_final_results",
        title="ShakeDrop: final results, PyramidNet-272 α200 on CIFAR-10 and CIFAR-100",
        source=f"{SHAKEDROP_SOURCE}, final CIFAR results",
        dataset="cifar10, cifar100",
        columns=(Column("cifar10", "CIFAR-10 error (%)"), Column("cifar100", "CIFAR-100 error (%)")),
        rows=(Row("pyramidnet-272-a200", "PyramidNet-272 α200 (bottleneck) + ShakeDrop", (
            Cell("cifar10", 2.31, "V-2nd", spec("cifar10"), source="a blog summary of the paper's v1/v2"),
            Cell("cifar100", 12.19, "UNVERIFIED", spec("cifar100")),
        )),),
        config={
            "model": "PyramidNet-272 alpha 200, bottleneck (UNVERIFIED for this paper)",
            "epochs": 1800, "batch_size": 128, "replica_batch": 32, "lr": 0.1,
            "schedule": "cosine to 0, per iteration",
            "optimizer": "SGD, Nesterov momentum 0.9, weight decay 1e-4",
            "augmentation": "random crop (zero padding 4), horizontal flip and Random Erasing (p 0.5): the paper "
                            "'randomly fills a part of the training image' (V-2nd wording)",
            "verification": "UNVERIFIED: architecture, learning rate and augmentation are inferred",
        },
        notes=(
            "Test error (%) at the last epoch.",
            "For comparison, AutoAugment's PyramidNet+ShakeDrop (1800 epochs) gets 2.7 / 2.3 / 1.5 on CIFAR-10 and "
            "14.0 / 12.2 / 10.7 on CIFAR-100 (baseline / Cutout / AutoAugment, V-2nd), matching 2.31 and 12.19 "
            "with a Cutout-type augmentation.",
            "ShakeDrop at Image level for α and β, gate per mini-batch (the authors' code).",
            "replica_batch 32 (4 GPUs x 32) is the authors' code's split for PyramidNet-110; the split of "
            "these runs is not stated (UNVERIFIED).",
        ),
    )


# ------------------------------------------------------------------------------- NASNet-A (Zoph et al.)

def _nasnet_table() -> PaperTable:
    # TF-slim nasnet.py CIFAR config (tensorflow/models, research/slim/nets/nasnet): 600 epochs, batch 32, lr
    # 0.025 cosine, global gradient norm clipped at 5, drop path keep 0.6 (p_max 0.4), auxiliary head weight
    # 0.4; weight decay 5e-4 and Nesterov momentum 0.9 are the engine's NASNet defaults (no source states them).
    optim = _sgd(600, 32, 0.025, 5e-4, gpus=1, grad_clip=5.0)  # the split is not stated: one group
    reg = {"method": "scheduled_drop_path", "p_max": 0.4}

    def spec(cells: int, filters: int, cutout: int) -> dict[str, Any]:
        return _spec("cifar10", {"arch": "nasnet", "cells": cells, "filters": filters, "aux_weight": 0.4}, reg,
                     optim, COSINE, {**CROP_FLIP, "cutout": cutout})

    source = "Zoph et al. 2018, arXiv:1707.07012, CIFAR-10 results, as quoted in Cai et al. 2018 (path-level NAS)"
    rows = (
        Row("n6-f32", "NASNet-A (N=6, F=32) + ScheduledDropPath, 3.3M",
            (Cell("error", 3.41, "V-2nd", spec(6, 32, 0)),)),
        Row("n6-f32-cutout", "NASNet-A (N=6, F=32) + ScheduledDropPath + Cutout, 3.3M",
            (Cell("error", 2.65, "V-2nd", spec(6, 32, 16)),)),
        Row("n7-f96-cutout", "NASNet-A (N=7, F=96) + ScheduledDropPath + Cutout, 27.6M",
            (Cell("error", 2.40, "V-2nd", spec(7, 96, 16),
                  note="no source gives the drop path probability of this larger model; 0.4 as for (6, 32)"),)),
    )
    return PaperTable(
        id="nasnet_a_cifar10",
        title="NASNet-A on CIFAR-10 with ScheduledDropPath",
        source=source,
        dataset="cifar10",
        columns=(Column("error", "CIFAR-10 error (%)"),),
        rows=rows,
        config={
            "model": "NASNet-A for CIFAR (nasnet, N cells per stage, F filters), auxiliary head weight 0.4",
            "epochs": 600, "batch_size": 32, "replica_batch": 32, "lr": 0.025, "schedule": "cosine (single period)",
            "optimizer": "SGD, Nesterov momentum 0.9, weight decay 5e-4, gradient global norm clipped at 5",
            "regularization": "ScheduledDropPath, drop probability up to 0.4 (keep 0.6), scaled by depth and time",
            "augmentation": "random crop (zero padding 4), horizontal flip; Cutout 16 where the row says so",
            "verification": "V-code (TF-slim nasnet.py CIFAR config) for the (6, 32) setting",
        },
        notes=(
            "Test error (%).",
            "The same source confirms Shake-Shake 26 2x96d 2.86 (+Cutout 2.56) and PyramidNet-272 α200 3.31.",
        ),
    )


PAPER_TABLES: dict[str, PaperTable] = {t.id: t for t in (
    _table1(), _table2(), _alpha_beta_table(), _level_table(), _regularization_table(), _final_results_table(),
    _nasnet_table(),
)}


def get_table(table_id: str) -> PaperTable | None:
    return PAPER_TABLES.get(table_id)
