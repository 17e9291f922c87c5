"""The training loop: schedules, exact resume, divergence, the run directory's files."""

import json
import math

import pytest
import torch

from worker.engine.spec import ScheduleSpec, parse_spec
from worker.engine.training import RunDirError, TrainingDiverged, learning_rate, train

TIMING_KEYS = {"seconds", "images_per_second"}


def tiny_spec(**overrides):
    spec = {
        "dataset": {"name": "synthetic", "train_size": 96, "test_size": 32},
        "model": {"arch": "pyramidnet", "depth": 11, "alpha": 12, "bottleneck": True},
        "regularization": {"method": "shakedrop"},
        "optim": {"epochs": 3, "batch_size": 32, "lr": 0.05},
        "seed": 3,
    }
    spec.update(overrides)
    return parse_spec(spec)


def without_timings(rows):
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in rows]


# ------------------------------------------------------------------------------------------- schedules

def test_cosine_starts_at_the_base_rate_halves_midway_and_ends_near_zero():
    cosine = ScheduleSpec(kind="cosine")
    assert learning_rate(cosine, 0.2, 0, 1000, 10) == pytest.approx(0.2)
    assert learning_rate(cosine, 0.2, 500, 1000, 10) == pytest.approx(0.1)
    assert learning_rate(cosine, 0.2, 999, 1000, 10) < 1e-5


def test_cosine_is_stepped_per_iteration_not_per_epoch():
    cosine = ScheduleSpec(kind="cosine")
    assert learning_rate(cosine, 0.1, 1, 1000, 10) < learning_rate(cosine, 0.1, 0, 1000, 10)


def test_warmup_rises_linearly_then_hands_over_to_the_schedule():
    warm = ScheduleSpec(kind="cosine", warmup_epochs=1)
    assert learning_rate(warm, 0.1, 0, 100, 10) == pytest.approx(0.01)
    assert learning_rate(warm, 0.1, 9, 100, 10) == pytest.approx(0.1)
    assert learning_rate(warm, 0.1, 10, 100, 10) == pytest.approx(0.1)
    assert learning_rate(warm, 0.1, 55, 100, 10) == pytest.approx(0.05)


def test_multistep_multiplies_by_gamma_at_each_fraction_of_the_run():
    steps = ScheduleSpec(kind="multistep", milestones=[0.5, 0.75], gamma=0.1)
    rates = [learning_rate(steps, 0.1, s, 400, 4) for s in (0, 199, 200, 299, 300, 399)]
    assert rates == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


# ------------------------------------------------------------------------------------ the run directory

def test_a_run_writes_one_metrics_line_per_epoch_with_every_field(tmp_path):
    history = train(tiny_spec(), tmp_path, device="cpu")
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines == history and [row["epoch"] for row in lines] == [1, 2, 3]
    for row in lines:
        assert set(row) == {"epoch", "train_loss", "train_error", "test_loss", "test_error", "lr", "seconds",
                            "images_per_second"}
        assert 0 <= row["train_error"] <= 100 and 0 <= row["test_error"] <= 100
        assert row["images_per_second"] > 0 and math.isfinite(row["train_loss"])
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / "spec.json").exists()


def test_training_is_reproducible_from_the_seed(tmp_path):
    first = train(tiny_spec(), tmp_path / "a", device="cpu")
    second = train(tiny_spec(), tmp_path / "b", device="cpu")
    assert without_timings(first) == without_timings(second)


def test_another_seed_gives_another_run(tmp_path):
    first = train(tiny_spec(), tmp_path / "a", device="cpu")
    other = train(tiny_spec(seed=4), tmp_path / "b", device="cpu")
    assert without_timings(first) != without_timings(other)


def test_a_run_stopped_after_epoch_k_and_resumed_matches_one_that_never_stopped(tmp_path):
    straight = train(tiny_spec(), tmp_path / "straight", device="cpu")
    stopped = train(tiny_spec(), tmp_path / "resumed", device="cpu", stop_after=1)
    assert len(stopped) == 1
    replayed = []
    resumed = train(tiny_spec(), tmp_path / "resumed", device="cpu", on_epoch=replayed.append)
    assert without_timings(resumed) == without_timings(straight)
    assert [row["epoch"] for row in replayed] == [1, 2, 3]  # the recorded epoch first, then the new ones
    lines = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]


def test_a_finished_run_resumed_again_trains_nothing_more(tmp_path):
    history = train(tiny_spec(), tmp_path, device="cpu")
    assert train(tiny_spec(), tmp_path, device="cpu") == history


def test_metrics_lines_beyond_the_checkpoint_are_dropped_on_resume(tmp_path):
    train(tiny_spec(), tmp_path, device="cpu", stop_after=1)
    with open(tmp_path / "metrics.jsonl", "a") as f:  # a line written just before a crash
        f.write(json.dumps({"epoch": 2, "train_loss": 9.9}) + "\n")
    history = train(tiny_spec(), tmp_path, device="cpu")
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines == history and [row["epoch"] for row in lines] == [1, 2, 3]


def test_a_directory_holding_another_run_is_refused(tmp_path):
    train(tiny_spec(), tmp_path, device="cpu", stop_after=1)
    with pytest.raises(RunDirError, match="different run"):
        train(tiny_spec(seed=9), tmp_path, device="cpu")


class BlowsUpAtEpoch(torch.nn.Module):
    """A real model whose logits turn NaN from a given epoch's first step: a stand-in for a diverging run
    (BN-ed residual nets resist being driven there deterministically in a few CPU seconds)."""

    def __init__(self, model, epoch, steps_per_epoch):
        super().__init__()
        self.model, self.blow_up_at = model, (epoch - 1) * steps_per_epoch
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def forward(self, x):
        out = self.model(x)
        if self.training:
            self.steps += 1
            out = out + torch.where(self.steps > self.blow_up_at, float("nan"), 0.0)
        return out


def test_a_diverging_loss_stops_the_run_naming_the_epoch_and_keeps_the_recorded_ones(tmp_path, monkeypatch):
    import worker.engine.training as engine_train
    real_build = engine_train.build_model
    monkeypatch.setattr(engine_train, "build_model", lambda spec: BlowsUpAtEpoch(real_build(spec), 3, 3))
    with pytest.raises(TrainingDiverged, match=r"training loss became nan at epoch 3") as diverged:
        train(tiny_spec(optim={"epochs": 5, "batch_size": 32}), tmp_path, device="cpu")
    # The alerts (backend/alerts.py) read the epoch out of these very words.
    from backend.alerts import DIVERGED
    assert DIVERGED.search(str(diverged.value))["epoch"] == "3"
    recorded = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in recorded] == [1, 2]
    assert all(math.isfinite(row["train_loss"]) for row in recorded)


def test_bf16_autocast_trains_on_the_cpu_too(tmp_path):
    history = train(tiny_spec(precision="bf16", optim={"epochs": 1, "batch_size": 32}), tmp_path, device="cpu")
    assert math.isfinite(history[0]["train_loss"])


@pytest.mark.slow
def test_torch_compile_trains_with_the_same_loop(tmp_path):
    torch._dynamo.reset()
    history = train(tiny_spec(optim={"epochs": 1, "batch_size": 32}), tmp_path, device="cpu", compile=True)
    assert math.isfinite(history[0]["train_loss"])


def test_compile_is_on_by_default_on_cuda_and_for_long_runs_on_a_cpu():
    from worker.engine.training import CPU_COMPILE_MIN_STEPS, _compiled

    model = torch.nn.Linear(2, 2)
    assert _compiled(model, torch.device("cpu"), None, None) is model  # CPU: eager unless asked or long
    assert _compiled(model, torch.device("cpu"), None, None, CPU_COMPILE_MIN_STEPS - 1) is model
    assert _compiled(model, torch.device("cpu"), None, None, CPU_COMPILE_MIN_STEPS)._orig_mod is model
    assert _compiled(model, torch.device("cpu"), False, None, CPU_COMPILE_MIN_STEPS) is model
    assert _compiled(model, torch.device("cpu"), False, None) is model
    assert _compiled(model, torch.device("cpu"), True, None) is not model
    compiled = _compiled(model, torch.device("cuda"), None, "reduce-overhead")  # compiling is lazy: no GPU needed
    assert compiled is not model and compiled._orig_mod is model


def test_the_package_hands_on_the_engine_api_lazily():
    import worker.engine as engine
    from worker.engine import build_model, shake_drop, shake_shake
    from worker.engine import train as train_function

    assert train_function is train and callable(build_model) and callable(shake_shake) and callable(shake_drop)
    with pytest.raises(AttributeError):
        engine.no_such_name  # noqa: B018


def test_nasnet_resumed_mid_schedule_continues_its_drop_path_schedule_exactly(tmp_path):
    spec = tiny_spec(model={"arch": "nasnet", "cells": 1, "filters": 8},
                     regularization={"method": "scheduled_drop_path", "p_max": 0.4},
                     optim={"epochs": 4, "batch_size": 32, "lr": 0.05})
    straight = train(spec, tmp_path / "straight", device="cpu")
    train(spec, tmp_path / "resumed", device="cpu", stop_after=2)
    checkpoint = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    assert 0.4 < checkpoint["model"]["progress"].item() < 0.5  # the last step of epoch 2 of 4
    resumed = train(spec, tmp_path / "resumed", device="cpu")
    assert without_timings(resumed) == without_timings(straight)
