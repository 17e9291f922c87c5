"""A NASNet search for real: the API, a Celery worker and the controller process (`python -m worker.nas`) as
processes, the controller training on the rewards of tiny nasnet children on synthetic data; the
controller process and the API killed (SIGKILL) in the middle and started again, and no child learned from
twice."""

from __future__ import annotations

import signal

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from backend.models import NASSearch
from tests.live import LiveSystem
from worker.nas.driver import load_searcher

pytestmark = pytest.mark.slow

SPEC = {"dataset": {"name": "synthetic", "train_size": 48, "test_size": 16, "validation": 16},
        "model": {"arch": "nasnet", "cells": 1, "filters": 4, "aux_weight": 0.0},
        "optim": {"epochs": 1, "batch_size": 16}, "augment": {"cutout": 0}}
# Each child is a run of its own process on the worker, seconds apiece on a loaded CPU: fewer children than
# a PPO minibatch (20) keep this short; the rewards wait in the controller's stored state. The update itself,
# and a process killed in the middle of it, are in test_nas_search.py.
CHILDREN = 4


def test_a_controller_search_survives_a_killed_controller_process_and_learns_each_child_once(tmp_path):
    with LiveSystem(tmp_path) as system:
        system.start_worker("--runs-per-gpu", "2")
        nas = system._spawn("nas", "-m", "worker.nas", "--interval", "0.3")
        system.workers.append(nas)  # stopped with the others at the end
        created = system.post("/api/nas", json={"name": "tiny cells", "spec": SPEC, "max_children": CHILDREN,
                                                "max_concurrent": 2, "seed": 3})
        assert created.status_code == 201, created.text
        search_id = created.json()["id"]

        def get():
            return system.get(f"/api/nas/{search_id}").json()

        system.wait_until(lambda: get()["children"].get("complete", 0) >= 2, 240, "two rewarded children")
        # Both killed mid-search: the controller process and the API (whose dispatcher publishes the runs).
        for process in (nas, system.api):
            process.send_signal(signal.SIGKILL)
            process.wait()
        system.start_api()
        system.workers.append(system._spawn("nas-again", "-m", "worker.nas", "--interval", "0.3"))

        search = system.wait_until(lambda: (s := get())["status"] == "finished" and s, 600, "the search to end")
        children = search["child_list"]
        assert [c["number"] for c in children] == list(range(CHILDREN))
        assert len({c["run_id"] for c in children}) == CHILDREN
        assert all(c["state"] == "complete" and c["learned"] and 0 <= c["reward"] <= 1 for c in children)
        assert search["updates"] == 0 and search["best"]["reward"] == max(c["reward"] for c in children)
        assert search["child_seconds"] > 0 and search["paper_search_hours"] > 0
        runs = {r["id"]: r for r in system.get("/api/runs", params={"limit": 100}).json()["runs"]}
        for child in children:
            assert runs[child["run_id"]]["spec"]["model"]["genotype"] == child["genotype"]
            assert child["reward"] == pytest.approx(1 - runs[child["run_id"]]["last_val_error"] / 100)

    # The stored controller holds each child's reward exactly once, waiting for its first minibatch of 20.
    engine = create_engine(f"sqlite:///{tmp_path / 'shakelab.db'}")
    with Session(engine) as session:
        searcher = load_searcher(session.get(NASSearch, search_id))
    engine.dispose()
    rewarded = [r.child.number for r in searcher.memory.rewarded]
    assert searcher.updates == 0 and sorted(rewarded) == list(range(CHILDREN))
    assert [r.reward for r in sorted(searcher.memory.rewarded, key=lambda r: r.child.number)] == \
        pytest.approx([c["reward"] for c in children])
    assert not searcher.memory.sampled
