"""`python -m worker.engine`: runs a spec, and says what is wrong in one line when it cannot."""

import json
import os
import subprocess
import sys

import pytest

TINY = {
    "dataset": {"name": "synthetic", "train_size": 64, "test_size": 32},
    "model": {"arch": "shake_resnet", "depth": 8, "width": 4},
    "regularization": {"method": "shake_shake"},
    "optim": {"epochs": 2, "batch_size": 32},
}


def engine(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "worker.engine", *map(str, args)], capture_output=True,
                          text=True, timeout=300, env=env)


@pytest.fixture
def spec_file(tmp_path):
    def write(data, name="spec.json"):
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return path
    return write


def test_train_writes_metrics_and_prints_events(tmp_path, spec_file):
    out = tmp_path / "run"
    result = engine("train", spec_file(TINY), "--out", out, "--events", "--no-progress")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["epoch"] for e in events] == [1, 2]
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines == events


def test_train_shows_a_progress_bar_with_epoch_loss_error_and_rate(tmp_path, spec_file):
    result = engine("train", spec_file(TINY), "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    bar = result.stderr
    assert "epoch 2/2" in bar and "loss=" in bar and "err=" in bar and "img_s=" in bar and "step" in bar


def test_an_invalid_spec_names_the_field_without_a_traceback(tmp_path, spec_file):
    bad = {**TINY, "model": {"arch": "shake_resnet", "depth": 9}}
    result = engine("train", spec_file(bad), "--out", tmp_path / "run")
    assert result.returncode == 2
    assert "model.depth" in result.stderr and "6n+2" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_malformed_json_says_where(tmp_path, spec_file):
    result = engine("train", spec_file('{"model": '), "--out", tmp_path / "run")
    assert result.returncode == 2 and "not valid JSON" in result.stderr and "line 1" in result.stderr


def test_a_missing_spec_file_is_named(tmp_path):
    result = engine("train", tmp_path / "nope.json", "--out", tmp_path / "run")
    assert result.returncode == 2 and "nope.json" in result.stderr and "Traceback" not in result.stderr


def test_missing_cifar_names_the_directory_and_the_file(tmp_path, spec_file):
    spec = {**TINY, "dataset": {"name": "cifar10"}}
    data_dir = tmp_path / "empty-data"
    data_dir.mkdir()
    result = engine("train", spec_file(spec), "--out", tmp_path / "run", "--data-dir", data_dir)
    assert result.returncode == 3, result.stderr
    assert str(data_dir) in result.stderr and "data_batch_1" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_prints_the_spec_with_the_papers_defaults(spec_file):
    result = engine("validate", spec_file({"model": {"arch": "pyramidnet"}}))
    assert result.returncode == 0
    resolved = json.loads(result.stdout)
    assert resolved["optim"]["epochs"] == 1800 and resolved["model"]["depth"] == 272


def test_validate_ends_its_output_with_one_newline(spec_file):
    result = engine("validate", spec_file({"model": {"arch": "pyramidnet"}}))
    assert result.returncode == 0 and result.stdout.endswith("}\n") and not result.stdout.endswith("\n\n")


def test_an_unknown_key_is_answered_with_the_closest_allowed_key(spec_file):
    result = engine("validate", spec_file({**TINY, "optim": {"epochs": 2, "batchsize": 32}}))
    assert result.returncode == 2
    assert "optim.batchsize: unknown key 'batchsize'; did you mean 'batch_size'?" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_a_run_that_failed_before_its_first_epoch_leaves_its_directory_to_another_spec(tmp_path, spec_file):
    out, empty = tmp_path / "run", tmp_path / "empty-data"
    empty.mkdir()
    failed = engine("train", spec_file({**TINY, "dataset": {"name": "cifar10"}}, "cifar.json"), "--out", out,
                    "--data-dir", empty, "--no-progress")
    assert failed.returncode == 3 and (out / "spec.json").exists(), failed.stderr
    result = engine("train", spec_file(TINY), "--out", out, "--events", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "spec.json").read_text())["dataset"]["name"] == "synthetic"
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_a_directory_holding_a_finished_epoch_refuses_another_spec(tmp_path, spec_file):
    out = tmp_path / "run"
    first = engine("train", spec_file(TINY), "--out", out, "--stop-after", "1", "--no-progress")
    assert first.returncode == 0, first.stderr
    recorded = (out / "metrics.jsonl").read_text()
    other = engine("train", spec_file({**TINY, "seed": 1}, "other.json"), "--out", out, "--no-progress")
    assert other.returncode == 2 and "holds a different run" in other.stderr and "Traceback" not in other.stderr
    assert (out / "metrics.jsonl").read_text() == recorded and json.loads((out / "spec.json").read_text())["seed"] == 0


def test_schema_prints_the_json_schema():
    result = engine("schema")
    assert result.returncode == 0 and "shake_resnet" in json.loads(result.stdout)["$defs"]["ShakeResNetModel"][
        "properties"]["arch"]["const"]


@pytest.mark.parametrize("valid", [True, False])
def test_a_torchrun_rank_leaves_with_its_exit_code_and_all_its_output(spec_file, valid):
    """A rank (WORLD_SIZE > 1) ends with os._exit, past the interpreter's teardown, which sometimes aborted a
    rank whose run had ended well: its exit code and its buffered output must still come out whole."""
    spec = TINY if valid else {**TINY, "optim": {"epochs": 0, "batch_size": 32}}
    result = engine("validate", spec_file(spec), env={**os.environ, "WORLD_SIZE": "2"})
    if valid:
        assert result.returncode == 0 and json.loads(result.stdout)["optim"]["epochs"] == 2
    else:
        assert result.returncode == 2 and "optim.epochs" in result.stderr
