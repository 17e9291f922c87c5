"""One run on several processes (DistributedDataParallel under torchrun, gloo on the CPU): it is the run one
process trains with the same replica_batch, up to the order of floating-point sums; it records each epoch
once, survives a killed rank, and resumes on another number of processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from worker.engine.distributed import Placement
from worker.engine.replicas import PlacementError
from worker.engine.spec import parse_spec
from worker.engine.training import train

ROOT = Path(__file__).parents[2]
# One torchrun at a time in the suite (each starts two ranks on this machine's cores), on one worker, which
# then computes the module's one-process run once.
pytestmark = pytest.mark.xdist_group("torchrun")
TIMING_KEYS = {"seconds", "images_per_second"}

# digits with 1000 of its 1437 training images held out: 437 to train on, 14 batches of 32 an epoch, the last
# one 21 images (11 + 10 over two groups); the validation and test splits are evaluated in shards.
SPEC = {"dataset": {"name": "digits", "validation": 1000},
        "model": {"arch": "shake_resnet", "depth": 8, "width": 4},
        "regularization": {"method": "shake_shake", "level": "batch"},
        "optim": {"epochs": 2, "batch_size": 32, "replica_batch": 16, "lr": 0.02}, "seed": 5}
# A few steps for the parameters' comparison: 93 images, 3 batches an epoch (the last 29: 15 + 14).
SHORT = {"dataset": {"name": "synthetic", "train_size": 93, "test_size": 32},
         "model": {"arch": "shake_resnet", "depth": 8, "width": 4},
         "regularization": {"method": "shake_shake", "level": "batch"},
         "optim": {"epochs": 2, "batch_size": 32, "replica_batch": 16, "lr": 0.05}, "seed": 5}
ERROR_KEYS = {"train_error", "test_error", "val_error"}


def write_spec(tmp_path: Path, spec: dict = SPEC) -> Path:
    path = tmp_path / f"spec-{len(list(tmp_path.glob('spec-*')))}.json"
    path.write_text(json.dumps(spec))
    return path


def with_optim(spec: dict, **optim) -> dict:
    return {**spec, "optim": {**spec["optim"], **optim}}


def torchrun(spec: Path, out: Path, *args: str, processes: int = 2, restarts: int = 0, wait: bool = True):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           # torchrun restarting its workers in place needs a rendezvous store of its own each time
           "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1",
           # a rank that aborts prints where each of its threads was
           "PYTHONFAULTHANDLER": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
               f"--max-restarts={restarts}", "-m", "worker.engine", "train", str(spec), "--out", str(out),
               "--no-progress", *args]
    if not wait:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, failure_text(result)
    return result


def failure_text(result: subprocess.CompletedProcess) -> str:
    """The epochs reported, then the ranks' own words (the head of stderr) and torchrun's summary (its tail)."""
    events = [line for line in result.stdout.splitlines() if line.startswith("{")]
    err = result.stderr
    ranks = err if len(err) <= 8000 else f"{err[:5000]}\n[...]\n{err[-3000:]}"
    return f"exit {result.returncode}; events: {events}\n{ranks}"


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def without_timings(rows):
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in rows]


def parameters(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)["model"]


def largest_difference(a: dict, b: dict) -> float:
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a if a[k].is_floating_point())


def assert_same_metrics(rows, expected, loss_rel=2e-3, error_abs=1.0):
    """Equal up to the order of floating-point sums, which tens of steps of training amplify (one process with
    1 thread against 2 already differs so): losses to 0.2%, error rates to within a few images."""
    assert [r["epoch"] for r in rows] == [r["epoch"] for r in expected]
    for row, other in zip(without_timings(rows), without_timings(expected), strict=True):
        assert set(row) == set(other)
        for key, value in row.items():
            tolerance = {"abs": error_abs} if key in ERROR_KEYS else {"rel": loss_rel}
            assert value == pytest.approx(other[key], **tolerance), key


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    """SPEC trained by two ranks of 16 images each."""
    tmp = tmp_path_factory.mktemp("two")
    result = torchrun(write_spec(tmp), tmp / "run", "--events")
    return tmp / "run", result


@pytest.fixture(scope="module")
def one_process_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "run"
    train(parse_spec(SPEC), out, device="cpu")
    return out


@pytest.mark.slow
def test_a_two_process_run_on_digits_trains_records_each_epoch_once_and_is_the_one_process_run(
        two_process_run, one_process_run):
    out, result = two_process_run
    rows = metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2]  # rank 0 alone writes
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [e["epoch"] for e in events] == [1, 2]  # rank 0 alone reports
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] and "val_error" in rows[-1]
    assert_same_metrics(rows, metrics(one_process_run))


@pytest.mark.slow
def test_ghost_batch_norm_in_one_process_is_two_ranks_and_the_whole_batch_is_not(tmp_path):
    two = tmp_path / "two"
    torchrun(write_spec(tmp_path, SHORT), two)
    ghost, whole = tmp_path / "ghost", tmp_path / "whole"
    train(parse_spec(SHORT), ghost, device="cpu")
    train(parse_spec(with_optim(SHORT, replica_batch=32)), whole, device="cpu")
    # batch norm per group of 16 in one process is batch norm on each rank's 16: the same parameters
    assert largest_difference(parameters(two), parameters(ghost)) < 1e-5
    assert_same_metrics(metrics(two), metrics(ghost), loss_rel=1e-5, error_abs=1e-9)
    # batch norm over the whole batch of 32 trains another net: the comparison can fail
    assert largest_difference(parameters(two), parameters(whole)) > 1e-3


@pytest.mark.slow
def test_a_run_of_two_ranks_resumes_on_one_process(tmp_path, one_process_run):
    out = tmp_path / "run"
    torchrun(write_spec(tmp_path), out, "--stop-after", "1")
    assert [r["epoch"] for r in metrics(out)] == [1]
    history = train(parse_spec(SPEC), out, device="cpu")
    assert [r["epoch"] for r in metrics(out)] == [1, 2]
    assert_same_metrics(history, metrics(one_process_run))


def worker_pids(launcher_pid: int) -> list[int]:
    """The processes torchrun's agent started (its children)."""
    children = Path(f"/proc/{launcher_pid}/task/{launcher_pid}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


@pytest.mark.slow
def test_a_killed_rank_makes_the_run_resume_and_end_as_an_uninterrupted_one(tmp_path, two_process_run):
    uninterrupted, _ = two_process_run
    out = tmp_path / "run"
    launcher = torchrun(write_spec(tmp_path), out, restarts=1, wait=False)
    try:
        deadline = time.monotonic() + 300
        while not (out / "metrics.jsonl").exists() or not (out / "metrics.jsonl").read_text().strip():
            assert launcher.poll() is None, launcher.communicate()[1][-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        ranks = worker_pids(launcher.pid)
        assert len(ranks) == 2
        os.kill(ranks[-1], signal.SIGKILL)  # rank 1 dies in epoch 2
        _, stderr = launcher.communicate(timeout=400)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
    assert launcher.returncode == 0, stderr[-3000:]
    assert [r["epoch"] for r in metrics(out)] == [1, 2]
    # the same ranks and reductions as the uninterrupted run: the same numbers
    assert without_timings(metrics(out)) == without_timings(metrics(uninterrupted))
    assert largest_difference(parameters(out), parameters(uninterrupted)) == 0


def test_a_number_of_processes_that_cuts_a_group_in_two_is_refused_before_any_rank_waits(tmp_path):
    spec = parse_spec(with_optim(SHORT, replica_batch=32))
    with pytest.raises(PlacementError, match="2 processes cannot share a batch of 32 split into 1 groups"):
        train(spec, tmp_path / "run", device="cpu", placement=Placement(rank=0, world=2))


# ---------------------------------------------------------------------------- gradients, in processes

def _gradients_of_rank(rank: int, world: int, store: str, result: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        model, images, labels = _model_and_batch()
        model.eval()  # batch norm frozen: running statistics, no batch statistics
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        part = slice(rank * 32, (rank + 1) * 32)
        F.cross_entropy(ddp(images[part]), labels[part]).backward()
        if rank == 0:
            torch.save({name: p.grad for name, p in model.named_parameters()}, result)
    finally:
        torch.distributed.destroy_process_group()


def _model_and_batch():
    from worker.engine.models import build_model

    torch.manual_seed(0)
    model = build_model(parse_spec({"dataset": {"name": "synthetic"}, "model": {"arch": "resnet", "depth": 8}}))
    with torch.no_grad():  # running statistics that are not the identity
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    images, labels = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
    return model, images, labels


def test_gradients_of_two_ranks_of_32_are_those_of_one_process_of_64_with_batch_norm_frozen(tmp_path):
    result = tmp_path / "grads.pt"
    torch.multiprocessing.spawn(_gradients_of_rank, args=(2, str(tmp_path / "store"), str(result)), nprocs=2)
    model, images, labels = _model_and_batch()
    model.eval()
    F.cross_entropy(model(images), labels).backward()
    ranks = torch.load(result, weights_only=True)
    for name, p in model.named_parameters():
        assert torch.allclose(ranks[name], p.grad, atol=1e-6, rtol=1e-5), name
    # with batch norm in training mode the two would differ: the test can fail
    model.train()
    model.zero_grad()
    F.cross_entropy(model(images), labels).backward()
    assert any(not torch.allclose(ranks[n], p.grad, atol=1e-4) for n, p in model.named_parameters())


# ----------------------------------------------------------------------------------- compiled under DDP

@pytest.mark.slow
def test_the_compiled_model_really_compiles_under_ddp(tmp_path):
    spec = tmp_path / "spec.json"
    # one step of the smallest net: inductor's C++ compilation on two busy cores is what takes the time
    spec.write_text(json.dumps({"dataset": {"name": "synthetic", "train_size": 32, "test_size": 32},
                                "model": {"arch": "resnet", "depth": 8},
                                "optim": {"epochs": 1, "batch_size": 32, "replica_batch": 16, "lr": 0.05}}))
    result = torchrun(spec, tmp_path / "run", "--compile")
    compiled = [line for line in result.stderr.splitlines() if line.startswith("torch.compile:")]
    assert compiled, result.stderr[-3000:]
    graphs = int(compiled[0].split()[1])
    assert graphs >= 1 and "compiled no graph" not in result.stderr
    assert [r["epoch"] for r in metrics(tmp_path / "run")] == [1]
