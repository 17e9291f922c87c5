"""The validation split (`dataset.validation`): fixed per dataset and size whatever the run's seed, stratified
by class, disjoint from the training images that remain, evaluated without augmentation; each epoch's
`val_loss` and `val_error` in the events and metrics.jsonl; and the spec's checks of its size."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from worker.engine.data import load_dataset, normalize, validation_indices
from worker.engine.models import build_model
from worker.engine.spec import DatasetSpec, SpecError, parse_spec
from worker.engine.training import train

TINY_MODEL = {"model": {"arch": "shake_resnet", "depth": 8, "width": 4},
              "regularization": {"method": "shake_shake"}}
VAL_KEYS = {"val_loss", "val_error"}


def digits_spec(validation: int, seed: int = 0, **optim):
    return parse_spec({"dataset": {"name": "digits", "validation": validation}, **TINY_MODEL,
                       "optim": {"epochs": 1, "batch_size": 64, **optim}, "seed": seed})


# ------------------------------------------------------------------------------------------- the split

def test_the_split_is_the_same_images_for_every_run_seed():
    splits = []
    for seed in (0, 1, 7):
        spec = digits_spec(300, seed=seed)
        torch.manual_seed(seed + 100)  # the global RNGs, which a run seeds, do not move it
        np.random.seed(seed + 100)
        splits.append(load_dataset(spec.dataset))
    first = splits[0]
    for other in splits[1:]:
        assert torch.equal(first.validation.images, other.validation.images)
        assert torch.equal(first.validation.labels, other.validation.labels)
        assert torch.equal(first.train.images, other.train.images)


def test_the_split_is_drawn_at_random_not_the_first_images():
    labels = load_dataset(DatasetSpec(name="digits")).train.labels
    _, held_out = validation_indices(labels, 300)
    assert not torch.equal(held_out, torch.arange(300))
    assert held_out.max() > 1200 and held_out.min() < 100  # spread over the whole training set


def test_the_held_out_images_leave_the_training_set_and_nothing_else_does():
    full = load_dataset(DatasetSpec(name="digits"))
    split = load_dataset(DatasetSpec(name="digits", validation=300))
    kept, held_out = validation_indices(full.train.labels, 300)
    assert set(kept.tolist()).isdisjoint(held_out.tolist())
    assert sorted(kept.tolist() + held_out.tolist()) == list(range(len(full.train)))
    assert torch.equal(split.train.images, full.train.images[kept])
    assert torch.equal(split.validation.images, full.train.images[held_out])
    assert torch.equal(split.validation.labels, full.train.labels[held_out])
    assert torch.equal(split.test.images, full.test.images)  # the test set is untouched


@pytest.mark.parametrize("name, size", [("digits", 300), ("digits", 10), ("synthetic", 101)])
def test_the_split_has_the_size_asked_for(name, size):
    spec = DatasetSpec(name=name, validation=size)
    data = load_dataset(spec)
    whole = load_dataset(DatasetSpec(name=name))
    assert len(data.validation) == size
    assert len(data.train) == len(whole.train) - size == spec.train_images


@pytest.mark.parametrize("size", [10, 37, 300, 1000])
def test_the_split_is_stratified_by_class(size):
    labels = load_dataset(DatasetSpec(name="digits")).train.labels
    _, held_out = validation_indices(labels, size)
    share = torch.bincount(labels, minlength=10).double() * size / len(labels)
    counts = torch.bincount(labels[held_out], minlength=10).double()
    assert (counts - share).abs().max() < 1, (counts.tolist(), share.tolist())


def test_an_unbalanced_training_set_is_split_in_proportion():
    labels = torch.repeat_interleave(torch.arange(4), torch.tensor([500, 300, 150, 50]))
    for size in (7, 101, 333):
        _, held_out = validation_indices(labels, size)
        counts = torch.bincount(labels[held_out], minlength=4).double()
        assert (counts - torch.tensor([500, 300, 150, 50]) * size / 1000).abs().max() < 1


def test_a_split_of_another_size_holds_out_other_images():
    labels = load_dataset(DatasetSpec(name="digits")).train.labels
    assert not set(validation_indices(labels, 300)[1].tolist()) <= set(validation_indices(labels, 200)[1].tolist())


def test_normalization_is_the_whole_training_sets_with_or_without_a_split():
    whole, split = load_dataset(DatasetSpec(name="digits")), load_dataset(DatasetSpec(name="digits", validation=300))
    assert (split.mean, split.std) == (whole.mean, whole.std)


# ---------------------------------------------------------------------------------------------- the spec

def errors_of(data) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    return {e["field"]: e["message"] for e in info.value.errors}


@pytest.mark.parametrize("dataset, optim, words", [
    ({"name": "digits", "validation": -1}, {}, "greater than or equal to 0"),
    ({"name": "digits", "validation": 5}, {}, "at least 10"),
    ({"name": "cifar100", "validation": 50}, {}, "at least 100"),
    ({"name": "digits", "validation": 1797}, {}, "1437 training images"),
    ({"name": "synthetic", "train_size": 64, "validation": 60}, {}, "64 training images"),
    ({"name": "digits", "validation": 1400}, {"batch_size": 128}, "fewer than one batch"),
    ({"name": "synthetic", "validation": 1000}, {"batch_size": 32}, "fewer than one batch"),
    ({"name": "cifar10", "validation": 49_950}, {"batch_size": 128}, "fewer than one batch"),
])
def test_a_validation_size_that_does_not_fit_names_dataset_validation(dataset, optim, words):
    errors = errors_of({"dataset": dataset, **TINY_MODEL, "optim": optim})
    assert list(errors) == ["dataset.validation"] and words in errors["dataset.validation"], errors


def test_a_split_that_leaves_exactly_one_batch_is_valid():
    spec = parse_spec({"dataset": {"name": "digits", "validation": 1437 - 128}, **TINY_MODEL,
                       "optim": {"batch_size": 128}})
    assert spec.dataset.train_images == 128


def test_no_validation_is_the_default():
    assert parse_spec(TINY_MODEL).dataset.validation == 0


def test_the_cli_names_dataset_validation(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"dataset": {"name": "digits", "validation": 1500}, **TINY_MODEL}))
    result = subprocess.run([sys.executable, "-m", "worker.engine", "validate", str(path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "dataset.validation" in result.stderr, result.stderr


# ------------------------------------------------------------------------------------ training with a split

SYNTHETIC = {"name": "synthetic", "train_size": 160, "test_size": 32}


def short_run(tmp_path, name, validation):
    spec = parse_spec({"dataset": {**SYNTHETIC, "validation": validation}, **TINY_MODEL,
                       "optim": {"epochs": 2, "batch_size": 32}, "seed": 1})
    out = tmp_path / name
    events = []
    rows = train(spec, out, on_epoch=events.append)
    return spec, out, events, rows


def test_every_epoch_records_validation_figures_in_events_and_metrics_file(tmp_path):
    _, out, events, _ = short_run(tmp_path, "split", 40)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines == events and [e["epoch"] for e in events] == [1, 2]
    for row in events:
        assert VAL_KEYS <= set(row)
        assert 0 <= row["val_error"] <= 100 and row["val_loss"] > 0
        assert row["val_error"] * 40 / 100 == pytest.approx(round(row["val_error"] * 40 / 100))  # of 40 images


def test_a_run_without_a_split_records_no_validation_figures(tmp_path):
    _, out, events, _ = short_run(tmp_path, "none", 0)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines == events and len(events) == 2
    assert all(set(row) == {"epoch", "train_loss", "train_error", "test_loss", "test_error", "lr", "seconds",
                            "images_per_second"} for row in events)


def test_validation_figures_are_the_models_on_the_unaugmented_held_out_images(tmp_path):
    spec, out, _, rows = short_run(tmp_path, "split", 40)
    data = load_dataset(spec.dataset)
    model = build_model(spec)
    model.load_state_dict(torch.load(out / "checkpoint.pt", weights_only=True)["model"])
    model.eval()
    with torch.no_grad():
        logits = model(normalize(data.validation.images, data.mean, data.std))
    assert rows[-1]["val_loss"] == pytest.approx(F.cross_entropy(logits, data.validation.labels).item(), rel=1e-5)
    assert rows[-1]["val_error"] == pytest.approx(
        100.0 * (logits.argmax(1) != data.validation.labels).float().mean().item())


def test_a_run_with_a_split_resumed_matches_one_that_never_stopped(tmp_path):
    spec = parse_spec({"dataset": {**SYNTHETIC, "validation": 40}, **TINY_MODEL,
                       "optim": {"epochs": 2, "batch_size": 32}})
    timings = {"seconds", "images_per_second"}
    straight = train(spec, tmp_path / "straight")
    train(spec, tmp_path / "resumed", stop_after=1)
    resumed = train(spec, tmp_path / "resumed")
    assert [{k: v for k, v in row.items() if k not in timings} for row in resumed] == \
        [{k: v for k, v in row.items() if k not in timings} for row in straight]


def test_a_run_directory_written_before_the_field_existed_resumes(tmp_path):
    spec = parse_spec({"dataset": SYNTHETIC, **TINY_MODEL, "optim": {"epochs": 2, "batch_size": 32}})
    train(spec, tmp_path, stop_after=1)
    recorded = json.loads((tmp_path / "spec.json").read_text())
    del recorded["dataset"]["validation"]  # as an older engine wrote it
    (tmp_path / "spec.json").write_text(json.dumps(recorded))
    rows = train(spec, tmp_path)
    assert [row["epoch"] for row in rows] == [1, 2] and not VAL_KEYS & set(rows[-1])


def test_the_events_printed_by_the_cli_carry_the_validation_figures(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"dataset": {**SYNTHETIC, "validation": 40}, **TINY_MODEL,
                                "optim": {"epochs": 1, "batch_size": 32}}))
    result = subprocess.run([sys.executable, "-m", "worker.engine", "train", str(path), "--out",
                             str(tmp_path / "run"), "--events", "--no-progress"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    [event] = [json.loads(line) for line in result.stdout.splitlines()]
    assert VAL_KEYS <= set(event) and event["epoch"] == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_split_trains_with_the_gpu_resident_loader_and_the_compiled_model(tmp_path):
    spec = parse_spec({"dataset": {**SYNTHETIC, "validation": 40}, **TINY_MODEL,
                       "optim": {"epochs": 2, "batch_size": 32}})
    rows = train(spec, tmp_path / "cuda", device="cuda")  # compiled by default on CUDA
    for row in rows:
        assert VAL_KEYS <= set(row) and 0 <= row["val_error"] <= 100
        assert row["val_error"] * 40 / 100 == pytest.approx(round(row["val_error"] * 40 / 100))
