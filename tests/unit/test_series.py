"""backend/series.py's arithmetic, without a database: thinning picks the rows the pure-Python way picked, keeps
every curve's extrema and the last epoch; rounding keeps the digits a metric has; packing round-trips."""

from __future__ import annotations

import math
import random

import numpy as np
import orjson
import pytest

from backend.series import SERIES_COLUMNS, dumps, pack, rounded, thin_indices, thin_many, unpack
from bench.previous_reads import downsample_keeping_extrema


def random_columns(rng: random.Random, n: int, validation: bool) -> dict[str, list]:
    # Few distinct values (ties) as well as many, so that "the first such epoch" is checked.
    columns = {"epoch": list(range(1, n + 1)),
               "test_error": [round(rng.uniform(2, 60), rng.choice([0, 1, 3])) for _ in range(n)],
               "train_error": [rng.random() for _ in range(n)]}
    if validation:
        columns["val_error"] = [rng.choice([1.0, 2.0, rng.random()]) for _ in range(n)]
    return columns


def test_thinning_picks_the_same_rows_as_the_pure_python_way():
    rng = random.Random(0)
    checked = 0
    while checked < 400:
        n, max_points = rng.randint(3, 2500), rng.randint(8, 1200)
        if n <= max_points:
            continue
        columns = random_columns(rng, n, validation=rng.random() < 0.4)
        arrays = {name: np.array(values, dtype=float) for name, values in columns.items()}
        assert thin_indices(arrays, max_points).tolist() == downsample_keeping_extrema(columns, max_points)
        checked += 1


def test_thinning_a_table_at_once_picks_each_runs_own_rows():
    # Runs of one length and curves are thinned as one array: no run's rows may leak into another's.
    rng = random.Random(2)
    runs = [{name: np.array(values, dtype=float) for name, values in
             random_columns(rng, rng.choice([900, 1800]), validation=rng.random() < 0.3).items()} for _ in range(40)]
    for run, keep in zip(runs, thin_many(runs, 120), strict=True):
        lists = {name: values.tolist() for name, values in run.items()}
        assert keep.tolist() == downsample_keeping_extrema(lists, 120)


@pytest.mark.parametrize("max_points", [8, 60, 500])
def test_thinning_keeps_each_curves_extrema_the_first_and_the_last_epoch(max_points):
    rng = np.random.default_rng(1)
    n = 1800
    columns = {"epoch": np.arange(1.0, n + 1), "test_error": 2.5 + 60 * np.exp(-np.arange(n) / 300)
               + rng.normal(0, 0.6, n), "train_error": rng.uniform(0, 50, n), "val_error": rng.uniform(0, 50, n)}
    columns["test_error"][1234] = 99.0  # a spike
    columns["val_error"][n - 2] = -1.0  # the best validation epoch, right before the last
    keep = set(thin_indices(columns, max_points).tolist())
    assert len(keep) <= max_points
    assert {0, n - 1} <= keep
    for name in ("test_error", "train_error", "val_error"):
        assert {int(np.argmin(columns[name])), int(np.argmax(columns[name]))} <= keep, name
    assert {1234, n - 2} <= keep


def test_errors_keep_four_decimals_losses_five_significant_digits():
    values = np.array([3.14159265, 0.00004999, 99.99995, 62.5, 0.1 + 0.2, math.nan])
    assert orjson.loads(dumps(rounded("test_error", values))) == [3.1416, 0.0, 100.0, 62.5, 0.3, None]
    losses = np.array([0.123456789, 2.0000049, 123456.7, 1.2345678e-7, 0.0, -3.14159, math.nan, math.inf])
    assert orjson.loads(dumps(rounded("test_loss", losses))) == [0.12346, 2.0, 123460.0, 1.2346e-07, 0.0, -3.1416,
                                                                 None, None]
    assert orjson.loads(dumps(rounded("lr", np.array([0.0999876543, 1.23456789e-05])))) == [0.0999877, 1.23457e-05]
    assert orjson.loads(dumps(rounded("wall_seconds", np.array([54000.123456])))) == [54000.123]
    # Rounded values are written in their short form: no 0.30000000000000004.
    assert dumps(rounded("train_error", np.array([0.1 + 0.2, 1.23449999]))) == b"[0.3,1.2345]"


def test_a_series_packs_and_unpacks_with_missing_values_as_nan():
    columns = {name: [float(i) for i in range(1, 4)] for name in SERIES_COLUMNS}
    columns["val_loss"] = [None, 0.5, None]
    back = unpack(pack(columns), 3)
    assert back["epoch"].tolist() == [1.0, 2.0, 3.0]
    assert np.isnan(back["val_loss"][[0, 2]]).all() and back["val_loss"][1] == 0.5
    assert unpack(pack({name: [] for name in SERIES_COLUMNS}), 0)["epoch"].size == 0
