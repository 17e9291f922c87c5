"""Models learn real data: small Shake-Shake and ShakeDrop PyramidNet nets on scikit-learn's digits.

Digits are real handwritten images (1437 train, 360 test, shown as 32x32 RGB) that need no download.
Each run takes about a minute of one CPU core (epochs and batches chosen for that, each passing with a margin).
"""

import pytest

from worker.engine.spec import parse_spec
from worker.engine.training import train

pytestmark = pytest.mark.slow


def digits_spec(model, regularization, epochs, batch_size=64):
    return parse_spec({
        "dataset": {"name": "digits"},
        "model": model,
        "regularization": regularization,
        "optim": {"epochs": epochs, "batch_size": batch_size, "lr": 0.1},
        "seed": 0,
    })


def test_a_small_shake_shake_net_learns_digits_to_under_5_percent_error(tmp_path):
    spec = digits_spec({"arch": "shake_resnet", "depth": 8, "width": 16}, {"method": "shake_shake"}, epochs=10)
    history = train(spec, tmp_path, device="cpu")
    assert history[-1]["test_error"] < 5.0, history[-1]


def test_a_small_shakedrop_pyramidnet_learns_digits_to_under_5_percent_error(tmp_path):
    spec = digits_spec({"arch": "pyramidnet", "depth": 14, "alpha": 24, "bottleneck": False},
                       {"method": "shakedrop"}, epochs=10, batch_size=32)
    history = train(spec, tmp_path, device="cpu")
    assert history[-1]["test_error"] < 5.0, history[-1]


def test_a_tiny_nasnet_with_scheduled_drop_path_learns_digits_to_under_10_percent_error(tmp_path):
    spec = parse_spec({
        "dataset": {"name": "digits"},
        "model": {"arch": "nasnet", "cells": 1, "filters": 8},
        "regularization": {"method": "scheduled_drop_path"},
        "augment": {"cutout": 0},  # a 16-pixel square hides half a 32x32 digit: too much for 5 epochs
        "optim": {"epochs": 5, "batch_size": 64, "lr": 0.1},
        "seed": 0,
    })
    history = train(spec, tmp_path, device="cpu")
    assert history[-1]["test_error"] < 10.0, history[-1]
