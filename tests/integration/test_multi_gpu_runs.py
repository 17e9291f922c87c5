"""Runs on several GPUs: `gpus` beside the spec, the claim of a K-GPU run under concurrent workers, the queue
saying why a run waits, and a worker that owns two "GPUs" training a 2-GPU run end to end (on this CPU: two
gloo ranks under torchrun) and cancelling it without leaving a process behind."""

from __future__ import annotations

import multiprocessing
import signal
import time

import pytest

from backend import store
from backend.models import utcnow
from tests.live import TINY_SPEC, LiveSystem

# Two replica groups of 16: a batch that two GPUs can share.
TWO_GROUPS = {**TINY_SPEC, "optim": {"epochs": 3, "batch_size": 32, "replica_batch": 16}}


def _post(platform, path: str = "/api/runs", **body):
    return platform.client.post(path, json={"spec": TWO_GROUPS, **body})


def test_a_run_asks_for_gpus_beside_its_spec_and_keeps_them_on_rerun(platform):
    r = _post(platform, gpus=2)
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["gpus"] == 2 and "gpus" not in run["spec"]
    one = _post(platform).json()
    # The number of GPUs is placement, not the experiment: both runs share the spec key (one seed group).
    assert one["gpus"] == 1 and one["spec_key"] == run["spec_key"]
    token = store.claim_run(platform.engine, run["id"], worker="box/gpu0+1#1", gpu="0,1")
    assert store.finish_run(platform.engine, run["id"], token, "failed", "boom")
    again = platform.client.post(f"/api/runs/{run['id']}/rerun").json()
    assert again["gpus"] == 2
    experiment = platform.client.post("/api/experiments", json={"name": "two gpus", "spec": TWO_GROUPS,
                                                                "seeds": [0, 1], "gpus": 2}).json()
    assert [r["gpus"] for r in experiment["runs"]] == [2, 2]


def test_gpus_that_cannot_share_the_batch_are_refused_naming_the_field_and_nothing_is_stored(platform):
    before = platform.counts()
    r = _post(platform, gpus=4)  # 2 groups of 16 over 4 GPUs
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["field"] == "gpus"
    assert "4 GPUs cannot share a batch of 32 split into 2 groups of optim.replica_batch 16" in error["msg"]
    assert _post(platform, gpus=0).json()["detail"][0]["field"] == "gpus"
    r = platform.client.post("/api/experiments", json={"name": "x", "spec": TINY_SPEC, "gpus": 2})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "gpus"
    assert platform.counts() == before


def test_the_queue_says_why_each_run_waits(platform):
    one = _post(platform).json()["id"]
    wide = _post(platform, gpus=2).json()["id"]

    def reasons() -> dict[int, str]:
        return {q["run"]["id"]: q["waiting_for"] for q in platform.client.get("/api/queue").json()["runs"]}

    assert reasons()[one].startswith("no worker is running")
    store.worker_seen(platform.engine, "box/gpu0#1", gpu="0", slots=1,
                      placement={"runs_per_gpu": 1, "gpus": [{"label": "0", "runs": []}], "waiting": []})
    said = reasons()
    assert said[wide] == ("asks for 2 GPUs and the widest worker running has 1: start a worker that owns 2 "
                          "(`python -m worker --gpus 0,1,...`)")
    assert said[one].startswith("not handed to the broker yet")
    # A two-GPU worker holds the wide run while a 1-GPU run trains on one of its GPUs.
    store.worker_seen(platform.engine, "box/gpu1+2#2", gpu="1,2", slots=2, placement={
        "runs_per_gpu": 1, "gpus": [{"label": "1", "runs": [99]}, {"label": "2", "runs": []}],
        "waiting": [{"run_id": wide, "gpus": 2, "reason": "needs 2 free GPUs at once; 1 of this worker's 2 are "
                                                          "free (held by run 99)"}]})
    assert reasons()[wide] == ("held by worker box/gpu1+2#2: needs 2 free GPUs at once; 1 of this worker's 2 are "
                               "free (held by run 99)")
    workers = {w["name"]: w for w in platform.client.get("/api/workers").json()}
    assert workers["box/gpu1+2#2"]["gpus"] == 2 and workers["box/gpu0#1"]["gpus"] == 1
    assert workers["box/gpu1+2#2"]["placement"]["gpus"][0]["runs"] == [99]
    store.mark_dispatched(platform.engine, one, utcnow())
    store.worker_seen(platform.engine, "box/gpu0#1", gpu="0", slots=1,
                      placement={"runs_per_gpu": 1, "gpus": [{"label": "0", "runs": [98]}], "waiting": []})
    assert reasons()[one] == "waits for a slot: the 2 workers that can train it are busy"


def _claim(url: str, run_id: int, worker: str, start, out) -> None:
    from backend.db import get_engine
    from backend.settings import Settings

    engine = get_engine(Settings(database_url=url))
    start.wait()
    out.put((worker, store.claim_run(engine, run_id, worker=worker, gpu="0,1")))


def test_a_k_gpu_claim_is_granted_to_one_worker_only_under_concurrent_workers(postgres_url, tmp_path):
    from backend.db import get_engine, migrate, session_scope
    from backend.settings import Settings
    from worker.engine.spec import parse_spec

    settings = Settings(home=tmp_path, database_url=postgres_url)
    migrate(settings.resolved_database_url)
    engine = get_engine(settings)
    with session_scope(engine) as session:
        [run] = store.create_runs(session, [parse_spec(TWO_GROUPS)], gpus=2)
        run_id = run.id
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    workers = [context.Process(target=_claim, args=(postgres_url, run_id, f"box{i}/gpu0+1#{i}", start, out))
               for i in range(8)]
    for process in workers:
        process.start()
    time.sleep(1.0)  # every process connected and waiting
    start.set()
    results = [out.get(timeout=60) for _ in workers]
    for process in workers:
        process.join(30)
    granted = [(worker, token) for worker, token in results if token is not None]
    assert len(granted) == 1
    with session_scope(engine) as session:
        row = store.get_run(session, run_id)
        assert (row.status, row.worker, row.claim_token, row.attempts) == ("running", granted[0][0], granted[0][1], 1)


@pytest.mark.slow
@pytest.mark.xdist_group("torchrun")  # one torchrun at a time in the suite
def test_a_two_gpu_worker_trains_a_two_gpu_run_on_two_ranks_and_cancel_leaves_no_process(tmp_path):
    from tests.integration.test_workers import engine_pids, metrics

    with LiveSystem(tmp_path, env={"SHAKELAB_HEARTBEAT_SECONDS": "1"}) as system:
        worker = system.start_worker("--gpus", "0,1")
        long_run = system.post("/api/runs", json={
            "spec": {**TWO_GROUPS, "optim": {"epochs": 200, "batch_size": 32, "replica_batch": 16}}}).json()["id"]
        system.wait_for_status(long_run, "running", timeout=60)
        wide = system.post("/api/runs", json={"spec": TWO_GROUPS, "gpus": 2}).json()["id"]

        def waiting_for() -> str:
            return next((q["waiting_for"] for q in system.get("/api/queue").json()["runs"] if q["run"]["id"] == wide),
                        "")

        system.wait_until(lambda: "needs 2 free GPUs" in waiting_for(), 30, "the worker to hold the 2-GPU run")
        assert waiting_for().endswith(f"needs 2 free GPUs at once; 1 of this worker's 2 are free (held by run "
                                      f"{long_run})")
        assert system.post(f"/api/runs/{long_run}/cancel").status_code in (200, 202)
        run = system.wait_for_status(wide, "succeeded", "failed", timeout=180)
        assert run["status"] == "succeeded", run["error"]
        assert (run["gpus"], run["gpu"], run["epochs_done"]) == (2, "0,1", 3)
        assert metrics(system, wide)["epoch"] == [1, 2, 3]  # rank 0 alone records each epoch, once

        # A 2-GPU run cancelled mid-training: torchrun's agent and both ranks are gone.
        long_wide = system.post("/api/runs", json={
            "spec": {**TWO_GROUPS, "optim": {"epochs": 200, "batch_size": 32, "replica_batch": 16}},
            "gpus": 2}).json()["id"]
        run_dir = system.home / "runs" / str(long_wide)
        system.wait_until(lambda: system.run(long_wide)["epochs_done"] >= 1, 120, "the 2-GPU run to train")
        assert len(engine_pids(run_dir)) == 3  # the agent and two ranks
        system.post(f"/api/runs/{long_wide}/cancel")
        assert system.wait_for_status(long_wide, "cancelled", timeout=60)["status"] == "cancelled"
        system.wait_until(lambda: engine_pids(run_dir) == [], 20, "every rank to end")
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
