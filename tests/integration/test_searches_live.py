"""A search for real: the API and a Celery worker as processes, Optuna proposing and pruning runs of a tiny
Shake-Shake net on digits, on SQLite with the embedded broker and on PostgreSQL with Redis, with the API
killed (SIGKILL) in the middle and started again."""

from __future__ import annotations

import re
import signal
from datetime import datetime

import pytest
from sqlalchemy import create_engine, inspect

from backend.settings import Settings
from tests.integration.test_migrations import TABLES
from tests.live import LiveSystem

pytestmark = pytest.mark.slow

# Five epochs with the rung at 40%: a pruned run stops at epoch 2 with epochs to spare, however loaded the machine.
EPOCHS = 5
SPEC = {"dataset": {"name": "digits", "validation": 300},
        "model": {"arch": "shake_resnet", "depth": 8, "width": 4}, "regularization": {"method": "shake_shake"},
        "optim": {"epochs": EPOCHS, "batch_size": 32}}
# Too low learns almost nothing in a few epochs, too high diverges; the good range lies between.
SLOW, GOOD, DIVERGES = 0.001, (0.03, 3.0), 10.0
SEARCH = {
    "name": "lr of a tiny Shake-Shake", "spec": SPEC,
    "space": {"optim.lr": {"choice": [0.3, 0.05, SLOW, DIVERGES]}},
    # Seed 5 orders the grid 0.3, 0.05, 0.001, 10: the good rates reach ASHA's rung first, so the slow one
    # meets a rung it must beat.
    "sampler": "grid", "sampler_seed": 5, "max_runs": 8, "max_concurrent": 2,
    "pruner": {"kind": "asha", "min_epochs_fraction": 0.4, "reduction": 2},
}
# A second search, through the same restart, whose budget binds: one and a half times the FLOPs estimate of
# one run. Its first proposal goes out on that estimate; a second one would pass the budget beside the first
# (in flight, then measured) and after it (spent), although max_concurrent would allow it.
BUDGETED = {**SEARCH, "name": "lr under a budget", "pruner": {"kind": "none"}}


@pytest.fixture(params=["sqlite", "postgres"])
def system(request, tmp_path):
    if request.param == "sqlite":
        live = LiveSystem(tmp_path)
    else:
        broker, queue = request.getfixturevalue("redis_queue")
        live = LiveSystem(tmp_path, database_url=request.getfixturevalue("postgres_url"), broker_url=broker,
                          env={"SHAKELAB_QUEUE": queue})
    with live:
        yield live


def most_at_once(runs: list[dict]) -> int:
    """The most runs queued or training at the same moment, from their creation and end times."""
    events = sorted([(datetime.fromisoformat(r["created_at"]), 1) for r in runs]
                    + [(datetime.fromisoformat(r["finished_at"]), -1) for r in runs], key=lambda e: (e[0], e[1]))
    level = peak = 0
    for _, change in events:
        level += change
        peak = max(peak, level)
    return peak


def database_tables(system: LiveSystem) -> set[str]:
    url = Settings(home=system.home, database_url=system.env.get("SHAKELAB_DATABASE_URL")).resolved_database_url
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_learning_rate_search_survives_a_killed_api_prunes_and_ends_in_the_good_range(system):
    system.start_worker("--runs-per-gpu", "2")
    created = system.post("/api/searches", json=SEARCH)
    assert created.status_code == 201, created.text
    search_id = created.json()["id"]
    one_run = system.post("/api/searches/dry-run", json=BUDGETED).json()["gpu_hours_per_run_max"]
    budgeted = system.post("/api/searches", json={**BUDGETED, "budget_gpu_hours": 1.5 * one_run})
    assert budgeted.status_code == 201, budgeted.text
    budgeted_id = budgeted.json()["id"]
    # Kill the API (and its dispatcher) once the first proposals train, then start it again.
    system.wait_until(lambda: any(r["epochs_done"] for r in system.get("/api/runs", params={"search": search_id})
                                  .json()["runs"]), 120, "a first epoch")
    system.api.send_signal(signal.SIGKILL)
    system.api.wait()
    system.start_api()

    search = system.wait_until(lambda: (s := system.get(f"/api/searches/{search_id}").json())["status"] == "finished"
                               and s, 300, "the search to finish")
    proposals = search["proposal_list"]
    runs = system.get("/api/runs", params={"search": search_id}).json()["runs"]
    # No proposal twice: the four grid points once each, one run each.
    assert [p["number"] for p in proposals] == [0, 1, 2, 3]
    assert sorted(p["params"]["optim.lr"] for p in proposals) == sorted(SEARCH["space"]["optim.lr"]["choice"])
    assert [len(p["runs"]) for p in proposals] == [1, 1, 1, 1] and len(runs) == 4
    assert most_at_once(runs) <= SEARCH["max_concurrent"]
    # No result lost: every run's epochs are recorded once each, and each complete proposal's value is its
    # run's last epoch (which the metrics answer rounds to 4 decimals, docs/api.md).
    for proposal in proposals:
        [run] = proposal["runs"]
        metrics = system.get(f"/api/runs/{run['id']}/metrics").json()
        assert metrics["epoch"] == list(range(1, run["epochs_done"] + 1))
        if proposal["state"] == "complete":
            assert run["status"] == "succeeded" and round(proposal["value"], 4) == metrics["val_error"][-1]
    # The pruner stopped the slow rate early, through the cancel path.
    pruned = [p for p in proposals if p["state"] == "pruned"]
    assert pruned, [(p["params"], p["state"], p["error"]) for p in proposals]
    for proposal in pruned:
        [run] = proposal["runs"]
        assert run["status"] == "pruned" and run["epochs_done"] < EPOCHS
        assert run["error"] == proposal["error"]
        # The reason says at which epoch, what value, against what rung; the worker may finish the epoch it
        # was training when it saw the flag, so the run can hold one epoch more than the pruner judged.
        reason = re.fullmatch(rf"pruned at epoch (\d+) of {EPOCHS} \(\d+% of the schedule\): val_error [\d.]+ is "
                              r"worse than [\d.]+, the cut of ASHA's rung \d+ \(at \d+% of the schedule, keeping the "
                              r"best 1/2 of \d+ proposals\)", run["error"])
        assert reason, run["error"]
        assert int(reason[1]) <= run["epochs_done"]
    slow = next(p for p in proposals if p["params"]["optim.lr"] == SLOW)
    assert slow["state"] == "pruned"
    # The best proposal learned with a rate in the good range, better than the slow and the diverging ones.
    best = search["best"]
    assert GOOD[0] <= best["params"]["optim.lr"] <= GOOD[1]
    diverging = next(p for p in proposals if p["params"]["optim.lr"] == DIVERGES)
    assert diverging["state"] in ("failed", "pruned") or diverging["value"] > best["value"]
    assert best["value"] < slow["value"]
    assert search["gpu_hours_spent"] > 0 and search["runs"]["total"] == 4

    # The budget held before and after the restart: one proposal only, then the search ended on its budget.
    # (The hours spent pass it: the first run was admitted on the H100 estimate, and this CPU is slower.)
    limited = system.wait_until(lambda: (s := system.get(f"/api/searches/{budgeted_id}").json())["status"]
                                == "finished" and s, 120, "the budgeted search to finish")
    assert [p["number"] for p in limited["proposal_list"]] == [0], limited["proposal_list"]
    assert [r["status"] for r in system.get("/api/runs", params={"search": budgeted_id}).json()["runs"]] == \
        ["succeeded"]
    assert limited["stop_reason"].startswith("budget: ") and "would pass it" in limited["stop_reason"]

    # Optuna kept no storage of its own: the database holds ShakeLab's tables and its Alembic version, no more.
    assert database_tables(system) == TABLES | {"alembic_version"}
