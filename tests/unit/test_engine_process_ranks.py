"""A worker's engine process for a run on several ranks (torchrun): its epochs come through as for one process,
and killing it leaves no rank behind, although torchrun starts each rank in a session of its own."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from worker.engine_process import EngineProcess

SPEC = {"dataset": {"name": "synthetic", "train_size": 256, "test_size": 32},
        "model": {"arch": "shake_resnet", "depth": 8, "width": 4},
        "optim": {"epochs": 50, "batch_size": 32, "replica_batch": 16, "lr": 0.05}}


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited, its parent has not reaped it yet


@pytest.mark.slow
@pytest.mark.xdist_group("torchrun")  # one torchrun at a time in the suite
def test_a_sigkilled_agent_takes_every_rank_with_it(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[2]))
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    engine = EngineProcess(spec, tmp_path / "run", data_dir=tmp_path / "data", gpu=None, processes=2)
    ranks: list[int] = []
    try:
        events = engine.events(timeout=240)
        assert [e["epoch"] for e in events][:1] == [1], engine.error_text()
        ranks += children(engine.process.pid)
        assert len(ranks) == 2 and all(alive(r) for r in ranks)
        os.kill(engine.process.pid, signal.SIGKILL)  # a cancel that escalated, or the worker killed
        engine.process.wait()
        deadline = time.monotonic() + 30
        while any(alive(r) for r in ranks) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(r) for r in ranks)
    finally:
        engine.stop(grace=1)
        for rank in filter(alive, ranks):  # no orphan outlives a failed check
            os.kill(rank, signal.SIGKILL)
