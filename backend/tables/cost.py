"""What reproducing costs: GPU-hours = epochs x training images / images per second, summed over runs.

Images per second come from the runs this ShakeLab has already trained (the median of the succeeded and
running runs of the same model at the same batch size: measured on the workers' own GPUs). Where there is
none, a clearly labelled estimate: the model's training FLOPs per image (3 x forward, counted once with the
engine; see FORWARD_GFLOPS) at an assumed share of an H100's dense bf16 peak. Evaluation on the test set is
not counted (about 5% more).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.engine.spec import RunSpec

from ..models import Run

__all__ = ["TRAIN_SIZES", "FORWARD_GFLOPS", "Throughput", "model_key", "train_size", "throughput",
           "measured_throughput", "estimated_throughput", "run_hours", "source_entry"]

# Training images per epoch; the synthetic set's default size is the engine's (worker/engine/data.py).
TRAIN_SIZES = {"cifar10": 50_000, "cifar100": 50_000, "digits": 1437, "synthetic": 1024}

# Forward GFLOPs of one 32x32 image in eval mode, counted with torch's FlopCounterMode on the engine's
# models (tests/unit/test_tables_data.py recounts them), for every model of the tables under every profile.
FORWARD_GFLOPS: dict[str, float] = {
    '{"arch": "shake_resnet", "depth": 26, "width": 32}': 0.8534,
    '{"arch": "shake_resnet", "depth": 26, "width": 64}': 3.3710,
    '{"arch": "shake_resnet", "depth": 26, "width": 96}': 7.5538,
    '{"arch": "shake_resnet", "depth": 26, "width": 112}': 10.2696,
    '{"arch": "shake_resnet", "depth": 8, "width": 4}': 0.0058,
    '{"arch": "shake_resnet", "depth": 8, "width": 8}': 0.0154,
    '{"arch": "shake_resnet", "depth": 8, "width": 12}': 0.0299,
    '{"arch": "shake_resnet", "depth": 8, "width": 14}': 0.0389,
    '{"arch": "shake_resnext", "base_width": 64, "cardinality": 4, "depth": 29}': 10.7747,
    '{"arch": "shake_resnext", "base_width": 4, "cardinality": 4, "depth": 11}': 0.3000,
    '{"alpha": 270, "arch": "pyramidnet", "bottleneck": false, "depth": 110}': 9.4360,
    '{"alpha": 27, "arch": "pyramidnet", "bottleneck": false, "depth": 8}': 0.0328,
    '{"arch": "resnet", "bottleneck": false, "depth": 110}': 0.5063,
    '{"arch": "resnet", "bottleneck": false, "depth": 8}': 0.0250,
    '{"alpha": 200, "arch": "pyramidnet", "bottleneck": true, "depth": 272}': 8.9776,
    '{"alpha": 20, "arch": "pyramidnet", "bottleneck": true, "depth": 11}': 0.0311,
    '{"arch": "nasnet", "aux_weight": 0.4, "cells": 6, "filters": 32}': 1.0887,
    '{"arch": "nasnet", "aux_weight": 0.4, "cells": 7, "filters": 96}': 10.3025,
    '{"arch": "nasnet", "aux_weight": 0.4, "cells": 1, "filters": 4}': 0.0095,
    '{"arch": "nasnet", "aux_weight": 0.4, "cells": 1, "filters": 12}': 0.0528,
}

H100_BF16_DENSE_TFLOPS = 989.4
# Assumed model-FLOPs utilisation, not measured (no GPU figures yet, docs/benchmarks.md): dense 3x3 convs
# at batch 32-128 reach roughly a quarter of the peak; NASNet's separable convs are memory-bound.
ASSUMED_UTILISATION = {"nasnet": 0.05}
DEFAULT_UTILISATION = 0.25
# Small nets at small batches are bound by kernel launches and the data path, not by FLOPs.
MAX_ESTIMATED_IMAGES_PER_SECOND = 30_000.0
MEASURED_RUNS_CONSIDERED = 200


def model_key(spec: RunSpec) -> str:
    return json.dumps(spec.model.model_dump(mode="json"), sort_keys=True)


def train_size(spec: RunSpec) -> int:
    return spec.dataset.train_size or TRAIN_SIZES[spec.dataset.name]


@dataclass(frozen=True)
class Throughput:
    source: str  # "measured" or "estimate"
    images_per_second: float | None  # None: no estimate at all (a model outside FORWARD_GFLOPS)
    basis: str


def measured_throughput(session: Session, spec: RunSpec) -> Throughput | None:
    """The median images/s of this ShakeLab's runs of the same model at the same batch size."""
    query = (select(Run.spec, Run.images_per_second, Run.worker)
             .where(Run.arch == spec.model.arch, Run.status.in_(("succeeded", "running")),
                    Run.images_per_second.is_not(None))
             .order_by(Run.id.desc()).limit(MEASURED_RUNS_CONSIDERED))
    model = spec.model.model_dump(mode="json")
    rates, workers = [], set()
    for run_spec, rate, worker in session.execute(query):
        if run_spec.get("model") == model and run_spec.get("optim", {}).get("batch_size") == spec.optim.batch_size:
            rates.append(rate)
            workers.add(worker or "unknown worker")
    if not rates:
        return None
    return Throughput("measured", statistics.median(rates),
                      f"median of {len(rates)} run(s) of this model at batch {spec.optim.batch_size} on "
                      f"{', '.join(sorted(workers))}")


def estimated_throughput(spec: RunSpec) -> Throughput:
    gflops = FORWARD_GFLOPS.get(model_key(spec))
    if gflops is None:
        return Throughput("estimate", None, "no measured run and no FLOPs figure for this model: not counted")
    utilisation = ASSUMED_UTILISATION.get(spec.model.arch, DEFAULT_UTILISATION)
    rate = min(utilisation * H100_BF16_DENSE_TFLOPS * 1e3 / (3 * gflops), MAX_ESTIMATED_IMAGES_PER_SECOND)
    return Throughput("estimate", rate,
                      f"estimate, not measured: 3 x {gflops:g} GFLOP per image at an assumed {utilisation:.0%} of "
                      f"an H100's dense bf16 peak ({H100_BF16_DENSE_TFLOPS:g} TFLOP/s), at most "
                      f"{MAX_ESTIMATED_IMAGES_PER_SECOND:,.0f} images/s")


def throughput(session: Session, spec: RunSpec) -> Throughput:
    return measured_throughput(session, spec) or estimated_throughput(spec)


def run_hours(spec: RunSpec, rate: Throughput) -> float:
    if not rate.images_per_second:
        return 0.0
    return spec.optim.epochs * train_size(spec) / rate.images_per_second / 3600


def source_entry(spec: RunSpec, rate: Throughput, runs: int) -> dict[str, Any]:
    return {"model": spec.model.model_dump(mode="json"), "batch_size": spec.optim.batch_size, "runs": runs,
            "source": rate.source, "images_per_second": rate.images_per_second, "basis": rate.basis}
