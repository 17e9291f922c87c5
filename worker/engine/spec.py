"""The run spec: everything needed to train one model once, as one validated JSON document.

This module is torch-free: the backend imports it to validate specs and to publish their JSON schema.
Sections left out of a spec are filled with the papers' settings for the chosen architecture
(`paper_defaults`), so a spec that names only `model` and `regularization` trains what the paper trained.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Sequence
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from worker.engine.genotype import NASNET_A, Genotype

__all__ = [
    "RunSpec",
    "SpecError",
    "ARCH_METHODS",
    "paper_defaults",
    "parse_spec",
    "readable_error_list",
    "valid_depths",
]


class _Section(BaseModel):
    # Unknown keys are errors: a typo such as "p_lats" must not silently train the default.
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------- dataset

SYNTHETIC_TRAIN_SIZE = 1024
SYNTHETIC_TEST_SIZE = 256
# Training images of each dataset as the engine loads it (digits: 1437 of scikit-learn's 1797, the rest is
# its test split; worker/engine/data.py); the validation split is held out of these.
TRAIN_SIZES = {"cifar10": 50_000, "cifar100": 50_000, "digits": 1437, "synthetic": SYNTHETIC_TRAIN_SIZE}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "digits": 10, "synthetic": 10}


class DatasetSpec(_Section):
    name: Literal["cifar10", "cifar100", "digits", "synthetic"] = Field(
        "cifar10", description="cifar10/cifar100: real data via torchvision; digits: scikit-learn's bundled "
        "8x8 digits shown as 32x32 RGB; synthetic: random images with learnable labels (smoke tests).")
    train_size: int | None = Field(None, ge=16, le=100_000, description="synthetic only; default 1024")
    test_size: int | None = Field(None, ge=16, le=100_000, description="synthetic only; default 256")
    # After train_size: its check reads the training set's size.
    validation: int = Field(0, ge=0, le=100_000, description="training images held out as a validation "
                            "split (0: none); the same images for every seed, stratified by class")

    @model_validator(mode="after")
    def _sizes_only_for_synthetic(self):
        if self.name != "synthetic":
            for field in ("train_size", "test_size"):
                if getattr(self, field) is not None:
                    raise ValueError(f"{field} applies only to the synthetic dataset, not {self.name}")
        return self

    @field_validator("validation")
    @classmethod
    def _validation_fits_the_training_set(cls, validation: int, info: ValidationInfo) -> int:
        name = info.data.get("name")
        if not validation or name is None:
            return validation
        classes = NUM_CLASSES[name]
        if validation < classes:
            raise ValueError(f"a validation split holds at least one image per class: 0 (none) or at least "
                             f"{classes} on {name}, got {validation}")
        size = info.data.get("train_size") or TRAIN_SIZES[name]
        if validation > size - classes:
            raise ValueError(f"{name} has {size} training images; holding out {validation} leaves fewer than "
                             f"one per class to train on")
        return validation

    @property
    def num_classes(self) -> int:
        return NUM_CLASSES[self.name]

    @property
    def train_images(self) -> int:
        """The images trained on each epoch: the training set less the validation split."""
        return (self.train_size or TRAIN_SIZES[self.name]) - self.validation


# ----------------------------------------------------------------------------------------------- models

# depth = step * n + offset with n >= 1: n blocks in each of 3 stages, plus the stem and the classifier
# (and, for Wide ResNet, the shortcut projections).
BASIC, BOTTLENECK, WIDE = (6, 2), (9, 2), (6, 4)


def _check_depth(depth: int, form: tuple[int, int], what: str) -> int:
    step, offset = form
    if depth < step + offset or (depth - offset) % step:
        raise ValueError(f"{what} needs depth = {step}n+{offset} with n >= 1 "
                         f"(e.g. {step + offset}, {2 * step + offset}, ...), got {depth}")
    return depth


def _depth_of(form: tuple[int, int], what: str):
    """The depth validator of a family with one kind of block."""
    return field_validator("depth")(lambda depth: _check_depth(depth, form, what))


def _depth_by_block(family: str):
    """The depth validator of a family with basic or bottleneck blocks (the `bottleneck` field)."""
    def check(depth: int, info: ValidationInfo) -> int:
        if info.data.get("bottleneck"):
            return _check_depth(depth, BOTTLENECK, f"{family} with bottleneck blocks")
        return _check_depth(depth, BASIC, f"{family} with basic blocks")
    return field_validator("depth")(check)


class ResNetModel(_Section):
    """Pre-activation ResNet (He et al. 2016): basic blocks (6n+2) or bottleneck blocks (9n+2)."""
    arch: Literal["resnet"] = "resnet"
    bottleneck: bool = False  # before depth: depth's rule depends on it
    depth: int = Field(110, ge=8, le=2000)

    _depth = _depth_by_block("pre-activation ResNet")


class WRNModel(_Section):
    """Wide ResNet WRN-depth-widen (Zagoruyko & Komodakis 2016)."""
    arch: Literal["wrn"] = "wrn"
    depth: int = Field(28, ge=10, le=1000)
    widen: int = Field(10, ge=1, le=32)
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout between the two convolutions")

    _depth = _depth_of(WIDE, "Wide ResNet")


class ResNeXtModel(_Section):
    """ResNeXt-depth (CxDd) for CIFAR (Xie et al. 2017): 3 stages of bottleneck blocks, 9n+2."""
    arch: Literal["resnext"] = "resnext"
    depth: int = Field(29, ge=11, le=1000)
    cardinality: int = Field(8, ge=1, le=64)
    base_width: int = Field(64, ge=1, le=512, description="channels per group in the first stage")

    _depth = _depth_of(BOTTLENECK, "ResNeXt")


class ShakeResNetModel(_Section):
    """The Shake-Shake paper's two-branch ResNet: "26 2x96d" is depth 26, width 96."""
    arch: Literal["shake_resnet"] = "shake_resnet"
    depth: int = Field(26, ge=8, le=1000)
    width: int = Field(96, ge=2, le=1024, description="channels of the first stage (doubled per stage)")

    _depth = _depth_of(BASIC, "Shake-Shake ResNet")

    @field_validator("width")
    @classmethod
    def _even_width(cls, v):
        if v % 2:  # the downsampling shortcut concatenates two paths of width/2 channels
            raise ValueError(f"width must be even (the shortcut joins two halves), got {v}")
        return v


class ShakeResNeXtModel(_Section):
    """The Shake-Shake paper's two-branch ResNeXt for CIFAR-100: "29 2x4x64d"."""
    arch: Literal["shake_resnext"] = "shake_resnext"
    depth: int = Field(29, ge=11, le=1000)
    cardinality: int = Field(4, ge=1, le=64)
    base_width: int = Field(64, ge=1, le=512, description="channels per group in the first stage")

    _depth = _depth_of(BOTTLENECK, "Shake-Shake ResNeXt")


class PyramidNetModel(_Section):
    """PyramidNet (Han et al. 2017): additive widening by alpha over all blocks, zero-padded shortcut."""
    arch: Literal["pyramidnet"] = "pyramidnet"
    bottleneck: bool = True  # before depth: depth's rule depends on it
    depth: int = Field(272, ge=8, le=2000)
    alpha: int = Field(200, ge=0, le=2000, description="total widening over the network")

    _depth = _depth_by_block("PyramidNet")


class NASNetModel(_Section):
    """NASNet for CIFAR (Zoph et al. 2018): N normal cells per stage, F filters, e.g. (6, 32); NASNet-A's
    cells unless `genotype` names others."""
    arch: Literal["nasnet"] = "nasnet"
    cells: int = Field(6, ge=1, le=20, description="N: normal cells per stage")
    filters: int = Field(32, ge=4, le=512, description="F: filters of the first stage's cells")
    aux_weight: float = Field(0.4, ge=0.0, le=1.0, description="loss weight of the auxiliary head")
    genotype: Genotype = Field(default=NASNET_A, description="the normal and the reduction cell (default: "
                               "NASNet-A)")

    @model_serializer(mode="wrap")
    def _nasnet_a_left_out(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # NASNet-A is written as it was before cells were part of the spec, so its specs keep their
        # spec_key (and the tables their cells); any other genotype is part of the spec and of its key.
        data = handler(self)
        if self.genotype == NASNET_A:
            data.pop("genotype", None)
        return data


ModelSpec = Annotated[
    ResNetModel | WRNModel | ResNeXtModel | ShakeResNetModel | ShakeResNeXtModel | PyramidNetModel
    | NASNetModel,
    Field(discriminator="arch"),
]


def valid_depths(arch: str, *, bottleneck: bool = False, limit: int = 5) -> list[int]:
    """The first few depths the family can build (for forms and error messages)."""
    if arch in ("resnet", "pyramidnet"):
        step, offset = BOTTLENECK if bottleneck else BASIC
    else:
        step, offset = {"wrn": WIDE, "resnext": BOTTLENECK, "shake_resnext": BOTTLENECK, "shake_resnet": BASIC}[arch]
    return [offset + step * n for n in range(1, limit + 1)]


# ------------------------------------------------------------------------------------ regularization

Range = tuple[float, float]


def _ordered(name: str, r: Range) -> Range:
    if r[0] > r[1]:
        raise ValueError(f"{name} is reversed: low {r[0]} > high {r[1]}")
    return r


class NoRegularization(_Section):
    """Plain training; a two-branch net averages its branches (Even-Even)."""
    method: Literal["none"] = "none"


class ShakeShakeReg(_Section):
    """Gastaldi 2017: forward mix by alpha, backward by an independent beta (Forward-Backward-Level)."""
    method: Literal["shake_shake"] = "shake_shake"
    forward: Literal["shake", "even"] = "shake"
    backward: Literal["shake", "even", "keep"] = "shake"
    level: Literal["batch", "image"] = "image"

    @model_validator(mode="after")
    def _keep_needs_shake(self):
        if self.backward == "keep" and self.forward != "shake":
            raise ValueError("backward 'keep' reuses the forward coefficient, so it needs forward 'shake'")
        return self


class ShakeDropReg(_Section):
    """Yamada et al. 2018: branch scaled by b + alpha - b*alpha forward, b + beta - b*beta backward."""
    method: Literal["shakedrop"] = "shakedrop"
    p_last: float = Field(0.5, ge=0.0, le=1.0, description="survival probability p_L of the last block")
    alpha_range: Range = (-1.0, 1.0)
    beta_range: Range = (0.0, 1.0)
    level: Literal["batch", "image", "channel", "pixel"] = Field(
        "image", description="granularity of the gate b and of alpha and beta")
    gate_level: Literal["batch", "image", "channel", "pixel"] | None = Field(
        None, description="granularity of the gate alone, when it differs from `level` (the authors' code: "
        "gate per batch, alpha/beta per pixel)")

    @field_validator("alpha_range", "beta_range")
    @classmethod
    def _range(cls, v, info):
        return _ordered(info.field_name, v)


class StochasticDepthReg(_Section):
    """Huang et al. 2016: each residual branch kept with probability p_l, decaying linearly to p_last."""
    method: Literal["stochastic_depth"] = "stochastic_depth"
    p_last: float = Field(0.5, ge=0.0, le=1.0, description="survival probability p_L of the last block")
    level: Literal["batch", "image"] = Field("batch", description="one gate per mini-batch (the paper) "
                                              "or per image")


class ScheduledDropPathReg(_Section):
    """NASNet's ScheduledDropPath: per-image drop of cell paths, growing with depth and training."""
    method: Literal["scheduled_drop_path"] = "scheduled_drop_path"
    p_max: float = Field(0.4, ge=0.0, lt=1.0, description="drop probability of the last cell at the end")


RegularizationSpec = Annotated[
    NoRegularization | ShakeShakeReg | ShakeDropReg | StochasticDepthReg | ScheduledDropPathReg,
    Field(discriminator="method"),
]

ARCH_METHODS: dict[str, tuple[str, ...]] = {
    "resnet": ("none", "shakedrop", "stochastic_depth"),
    "wrn": ("none", "shakedrop", "stochastic_depth"),
    "resnext": ("none", "shakedrop", "stochastic_depth"),
    "pyramidnet": ("none", "shakedrop", "stochastic_depth"),
    "shake_resnet": ("none", "shake_shake"),
    "shake_resnext": ("none", "shake_shake"),
    "nasnet": ("none", "scheduled_drop_path"),
}


# ------------------------------------------------------------------------------ augment, optim, schedule

class AugmentSpec(_Section):
    crop_padding: int = Field(4, ge=0, le=16, description="zero padding before the random 32x32 crop")
    flip: bool = Field(True, description="random horizontal flip")
    cutout: int = Field(0, ge=0, le=32, description="side of the Cutout square (0: off; paper: 16 on "
                        "CIFAR-10, 8 on CIFAR-100)")
    random_erasing: float = Field(0.0, ge=0.0, le=1.0, description="probability of Random Erasing "
                                  "(0: off; paper: 0.5)")


class OptimSpec(_Section):
    epochs: int = Field(1800, ge=1, le=10_000)
    batch_size: int = Field(128, ge=1, le=8192)
    replica_batch: int = Field(
        128, ge=1, le=8192, description="images per replica, as on the papers' GPUs: batch norm statistics and "
        "every batch-level random draw are taken per group of this many images (ghost batch norm); "
        "batch_size must be a multiple of it; batch_size itself is one group (one GPU). Defaults to the "
        "paper's split with the paper's batch, else to batch_size")
    lr: float = Field(0.1, gt=0.0, le=10.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    nesterov: bool = True
    weight_decay: float = Field(1e-4, ge=0.0, le=0.1)
    grad_clip: float | None = Field(None, gt=0.0, description="clip the gradients' global norm")

    @model_validator(mode="before")
    @classmethod
    def _one_group_unless_told(cls, data: Any) -> Any:
        if isinstance(data, dict) and "replica_batch" not in data and isinstance(data.get("batch_size"), int):
            data = {**data, "replica_batch": data["batch_size"]}
        return data

    @field_validator("replica_batch")
    @classmethod
    def _replica_batch_divides_the_batch(cls, replica_batch: int, info: ValidationInfo) -> int:
        batch = info.data.get("batch_size")
        if batch is not None and batch % replica_batch:
            raise ValueError(f"batch_size ({batch}) must be a multiple of replica_batch ({replica_batch}): the "
                             f"batch is split into groups of replica_batch images")
        return replica_batch

    @property
    def replicas(self) -> int:
        """The groups (the papers' GPUs) that one batch is split into."""
        return self.batch_size // self.replica_batch

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self):
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs a momentum above 0")
        return self


class ScheduleSpec(_Section):
    kind: Literal["cosine", "multistep", "constant"] = "cosine"
    warmup_epochs: float = Field(0, ge=0, le=100, description="linear warmup from 0 before the schedule")
    # Fractions of the run rather than epoch numbers, so a shortened (budget) run keeps the paper's shape.
    milestones: list[float] = Field(default_factory=list, description="multistep: fractions of the run "
                                    "(0.5 = half way) where lr *= gamma")
    gamma: float = Field(0.1, gt=0.0, le=1.0, description="multistep: factor at each milestone")

    @model_validator(mode="after")
    def _milestones(self):
        if self.kind == "multistep":
            if not self.milestones:
                raise ValueError("multistep needs at least one milestone")
            if list(self.milestones) != sorted(set(self.milestones)) or not 0 < self.milestones[0] \
                    or self.milestones[-1] >= 1:
                raise ValueError("milestones must be increasing fractions of the run, between 0 and 1")
        elif self.milestones:
            raise ValueError(f"milestones apply only to the multistep schedule, not {self.kind}")
        return self


# ------------------------------------------------------------------------------ the papers' defaults

# Training settings of the paper that defines each architecture's headline result (docs/tables.md lists them).
# replica_batch: the images each of the paper's GPUs saw (Lua Torch's DataParallelTable split the batch and
# normalised each GPU's slice on its own); docs/engine.md, "Replicas", gives the sources.
_PAPER_TRAINING: dict[str, dict[str, Any]] = {
    # Shake-Shake Table 1 (CIFAR-10): 1800 epochs, cosine from 0.2, batch 128, wd 1e-4, Nesterov.
    # Trained on 2 GPUs x 64 (xgastaldi/shake-shake README).
    "shake_resnet": {"optim": {"epochs": 1800, "batch_size": 128, "replica_batch": 64, "lr": 0.2,
                               "weight_decay": 1e-4},
                     "schedule": {"kind": "cosine"}},
    # Shake-Shake Table 2 (CIFAR-100): batch 32, lr 0.025, wd 5e-4.
    # 2 GPUs x 16 (same README).
    "shake_resnext": {"optim": {"epochs": 1800, "batch_size": 32, "replica_batch": 16, "lr": 0.025,
                                "weight_decay": 5e-4},
                      "schedule": {"kind": "cosine"}},
    # ShakeDrop's final results: PyramidNet-272 a200 with 1800 epochs of cosine annealing; the authors' code
    # trains on 4 GPUs x 32 (imenurok/ShakeDrop README, `-nGPU 4`).
    "pyramidnet": {"optim": {"epochs": 1800, "batch_size": 128, "replica_batch": 32, "lr": 0.1,
                             "weight_decay": 1e-4},
                   "schedule": {"kind": "cosine"}},
    # Stochastic depth (Huang et al.): 500 epochs, lr 0.1 divided by 10 at 250 and 375.
    "resnet": {"optim": {"epochs": 500, "batch_size": 128, "replica_batch": 128, "lr": 0.1, "weight_decay": 1e-4},
               "schedule": {"kind": "multistep", "milestones": [0.5, 0.75], "gamma": 0.1}},
    # Wide ResNet: 200 epochs, lr 0.1 times 0.2 at 60, 120, 160, wd 5e-4.
    "wrn": {"optim": {"epochs": 200, "batch_size": 128, "replica_batch": 128, "lr": 0.1, "weight_decay": 5e-4},
            "schedule": {"kind": "multistep", "milestones": [0.3, 0.6, 0.8], "gamma": 0.2}},
    # ResNeXt (CIFAR): 300 epochs, lr 0.1 divided by 10 at 150 and 225, wd 5e-4.
    "resnext": {"optim": {"epochs": 300, "batch_size": 128, "replica_batch": 128, "lr": 0.1, "weight_decay": 5e-4},
                "schedule": {"kind": "multistep", "milestones": [0.5, 0.75], "gamma": 0.1}},
    # NASNet-A CIFAR (TF-slim): 600 epochs, batch 32, lr 0.025 cosine, clip 5, wd 5e-4, Cutout 16.
    "nasnet": {"optim": {"epochs": 600, "batch_size": 32, "replica_batch": 32, "lr": 0.025, "weight_decay": 5e-4,
                         "grad_clip": 5.0},
               "schedule": {"kind": "cosine"}, "augment": {"cutout": 16}},
}

def paper_defaults(arch: str, dataset: str = "cifar10") -> dict[str, dict[str, Any]]:
    """The `augment`, `optim` and `schedule` sections a spec gets when it leaves them out."""
    if arch not in _PAPER_TRAINING:
        raise ValueError(f"unknown arch {arch!r}; expected one of {sorted(_PAPER_TRAINING)}")
    sections = copy.deepcopy(_PAPER_TRAINING[arch])
    augment = sections.setdefault("augment", {})
    if dataset == "digits":
        augment["flip"] = False  # a mirrored digit is another glyph, not the same class
    if dataset == "cifar100" and augment.get("cutout"):
        augment["cutout"] = 8  # DeVries & Taylor: 8 pixels on CIFAR-100
    return sections


# ------------------------------------------------------------------------------------------ run spec

class RunSpec(_Section):
    """One training run. Sections that are left out get the papers' settings for the arch."""
    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    model: ModelSpec
    regularization: RegularizationSpec = Field(default_factory=NoRegularization)
    augment: AugmentSpec = Field(default_factory=AugmentSpec)
    optim: OptimSpec = Field(default_factory=OptimSpec)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast on CUDA, fp32 on the CPU")

    @model_validator(mode="before")
    @classmethod
    def _fill_paper_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        dataset = data.get("dataset") or {}
        dataset_name = dataset.get("name", "cifar10") if isinstance(dataset, dict) else "cifar10"
        dataset_name = dataset_name if isinstance(dataset_name, str) else "cifar10"
        model = data.get("model")
        arch = model.get("arch") if isinstance(model, dict) else None
        if not isinstance(arch, str) or arch not in _PAPER_TRAINING:
            return data  # the discriminator reports the unknown arch
        for section, defaults in paper_defaults(arch, dataset_name).items():
            given = data.get(section)
            if given is None:
                data[section] = defaults
            elif isinstance(given, dict):
                if section == "optim" and "batch_size" in given and "replica_batch" not in given:
                    # The paper's split goes with the paper's batch; a batch of one's own is one group.
                    defaults = {**defaults, "replica_batch": given["batch_size"]}
                data[section] = {**defaults, **given}
        return data

    # Cross-section checks are field validators on the later section, so the error names that field.
    @field_validator("regularization")
    @classmethod
    def _method_fits_arch(cls, reg, info: ValidationInfo):
        model = info.data.get("model")
        if model is not None and reg.method not in ARCH_METHODS[model.arch]:
            raise ValueError(f"method {reg.method!r} does not fit arch {model.arch!r}; "
                             f"{model.arch} takes {', '.join(ARCH_METHODS[model.arch])}")
        return reg

    @field_validator("schedule")
    @classmethod
    def _schedule_fits_epochs(cls, schedule, info: ValidationInfo):
        optim = info.data.get("optim")
        if optim is None:
            return schedule
        if schedule.warmup_epochs >= optim.epochs:
            raise ValueError(f"warmup_epochs ({schedule.warmup_epochs:g}) must be shorter than "
                             f"optim.epochs ({optim.epochs})")
        return schedule

    @model_validator(mode="after")
    def _validation_leaves_a_batch(self):
        # dataset is validated before optim, so this check runs on the whole spec; its error is raised with
        # the field's own location, so it names dataset.validation rather than the spec.
        left, batch = self.dataset.train_images, self.optim.batch_size
        if self.dataset.validation and left < batch:
            message = (f"holding out {self.dataset.validation} of the {left + self.dataset.validation} "
                       f"training images of {self.dataset.name} leaves {left}, fewer than one batch "
                       f"(optim.batch_size {batch})")
            raise ValidationError.from_exception_data(type(self).__name__, [InitErrorDetails(
                type=PydanticCustomError("value_error", "Value error, {message}", {"message": message}),
                loc=("dataset", "validation"), input=self.dataset.validation)])
        return self

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes


class SpecError(ValueError):
    """A spec that does not validate; `str()` lists each problem as `field.path: message`."""

    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"]
                                   for e in errors))


_UNION_TAGS = set(ARCH_METHODS) | {m for ms in ARCH_METHODS.values() for m in ms}


def readable_errors(exc: ValidationError) -> list[dict[str, str]]:
    """pydantic's errors as {field, message, type}, with the union tags (`model.pyramidnet.depth`) removed."""
    return readable_error_list(exc.errors(include_url=False))


def readable_error_list(errors, spec_at: Sequence[str] = ()) -> list[dict[str, str]]:
    """`readable_errors` for a list of pydantic error dicts (as FastAPI's RequestValidationError holds), each
    as {field, message, type}. `spec_at`: where the run spec sits in the errors' paths (("body", "spec") in
    an API request), so that an unknown key inside it gets the closest allowed key as a suggestion."""
    out = []
    for err in errors:
        loc = [str(p) for p in err["loc"] if str(p) not in _UNION_TAGS]
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "union_tag_invalid":
            key = err["ctx"]["discriminator"].strip("'")
            message = f"unknown {key} {err['ctx']['tag']!r}; expected one of {err['ctx']['expected_tags']}"
            loc.append(key)
        elif err["type"] == "extra_forbidden" and tuple(err["loc"][:len(spec_at)]) == tuple(spec_at):
            message = unknown_key_message(err["loc"][len(spec_at):]) or message
        out.append({"field": ".".join(loc), "message": message, "type": err["type"]})
    return out


def _section_at(path: Sequence[str | int]) -> type[BaseModel] | None:
    """The spec's section that `path` leads to (pydantic's path: a union's tag follows its field), or None."""
    section: type[BaseModel] = RunSpec
    parts = [str(p) for p in path]
    while parts:
        field = section.model_fields.get(parts.pop(0))
        if field is None:
            return None
        if field.discriminator:  # model.<arch>, regularization.<method>
            tag = parts.pop(0) if parts else None
            section = next((m for m in get_args(field.annotation)
                            if tag in get_args(m.model_fields[field.discriminator].annotation)), None)
        elif isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            section = field.annotation
        else:
            return None
        if section is None:
            return None
    return section


def unknown_key_message(path: Sequence[str | int]) -> str | None:
    """For an unknown key at `path` inside a spec: the closest allowed key at that level (difflib), or the
    allowed keys when none is close; None when the path does not lead into the spec."""
    if not path:
        return None
    section = _section_at(path[:-1])
    if section is None:
        return None
    key, allowed = str(path[-1]), list(section.model_fields)
    if close := difflib.get_close_matches(key, allowed, n=1):
        return f"unknown key {key!r}; did you mean {close[0]!r}?"
    return f"unknown key {key!r}; expected one of {', '.join(allowed)}"


def parse_spec(data: Any) -> RunSpec:
    """Validate a spec (a dict or a JSON string); raise SpecError naming each bad field."""
    try:
        if isinstance(data, (str, bytes)):
            return RunSpec.model_validate_json(data)
        return RunSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(readable_errors(exc)) from None
