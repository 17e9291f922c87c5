"""What reproducing costs: hours = epochs x training images / images per second, summed over runs.

Two rates, shown side by side: this installation's, measured by its finished runs (local_speed.py), and a
labelled estimate for one H100, here: the model's training FLOPs per image (3 x forward, counted once with
the engine; see FORWARD_GFLOPS) at an assumed share of an H100's dense bf16 peak. Evaluation on the test set
is not counted (about 5% more).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from worker.engine.spec import TRAIN_SIZES, RunSpec

__all__ = ["TRAIN_SIZES", "FORWARD_GFLOPS", "Throughput", "model_key", "model_dict_key", "train_size",
           "estimated_throughput", "run_hours", "source_entry"]

# Forward GFLOPs of one 32x32 image in eval mode, counted with torch's FlopCounterMode on the engine's
# models (tests/unit/test_tables_data.py recounts them), for every model of the tables under every profile
# and of the presets: the local estimate scales measured speed by them.
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
    '{"alpha": 24, "arch": "pyramidnet", "bottleneck": false, "depth": 20}': 0.0807,
}

H100_BF16_DENSE_TFLOPS = 989.4
# Assumed model-FLOPs utilisation, not measured (no GPU figures yet, docs/benchmarks.md): dense 3x3 convs
# at batch 32-128 reach roughly a quarter of the peak; NASNet's separable convs are memory-bound.
ASSUMED_UTILISATION = {"nasnet": 0.05}
DEFAULT_UTILISATION = 0.25
# Small nets at small batches are bound by kernel launches and the data path, not by FLOPs.
MAX_ESTIMATED_IMAGES_PER_SECOND = 30_000.0


def model_dict_key(model: dict[str, Any]) -> str:
    """A resolved model section as the key of FORWARD_GFLOPS (as stored in a run's spec)."""
    return json.dumps(model, sort_keys=True)


def model_key(spec: RunSpec) -> str:
    return model_dict_key(spec.model.model_dump(mode="json"))


def train_size(spec: RunSpec) -> int:
    """Images trained on per epoch: the training set less any validation split."""
    return spec.dataset.train_images


@dataclass(frozen=True)
class Throughput:
    source: str  # "estimate": on one H100, from FLOPs
    images_per_second: float | None  # None: no estimate at all (a model outside FORWARD_GFLOPS)
    basis: str


def estimated_throughput(spec: RunSpec) -> Throughput:
    gflops = FORWARD_GFLOPS.get(model_key(spec))
    if gflops is None:
        return Throughput("estimate", None, "no FLOPs figure for this model: not counted")
    utilisation = ASSUMED_UTILISATION.get(spec.model.arch, DEFAULT_UTILISATION)
    rate = min(utilisation * H100_BF16_DENSE_TFLOPS * 1e3 / (3 * gflops), MAX_ESTIMATED_IMAGES_PER_SECOND)
    return Throughput("estimate", rate,
                      f"estimate, not measured: 3 x {gflops:g} GFLOP per image at an assumed {utilisation:.0%} of "
                      f"an H100's dense bf16 peak ({H100_BF16_DENSE_TFLOPS:g} TFLOP/s), at most "
                      f"{MAX_ESTIMATED_IMAGES_PER_SECOND:,.0f} images/s")


def run_hours(spec: RunSpec, images_per_second: float | None) -> float:
    if not images_per_second:
        return 0.0
    return spec.optim.epochs * train_size(spec) / images_per_second / 3600


def source_entry(spec: RunSpec, rate: Throughput, runs: int) -> dict[str, Any]:
    return {"model": spec.model.model_dump(mode="json"), "batch_size": spec.optim.batch_size, "runs": runs,
            "source": rate.source, "images_per_second": rate.images_per_second, "basis": rate.basis}
