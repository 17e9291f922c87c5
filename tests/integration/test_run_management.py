"""Editing, archiving and deleting runs, their files, the queue and the workers' runs, on SQLite and on
PostgreSQL: PATCH /api/runs/{id}, DELETE /api/runs/{id}, GET /api/runs/{id}/files/..., GET /api/queue."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import update

from backend import store
from backend.models import Metric, Run, RunTag, Worker, utcnow
from tests.live import TINY_SPEC

EPOCH = {"train_loss": 1.0, "train_error": 50.0, "test_loss": 1.1, "test_error": 55.0, "lr": 0.1, "seconds": 1.0,
         "images_per_second": 64.0}


def queued(platform, **body) -> dict:
    r = platform.client.post("/api/runs", json={"spec": TINY_SPEC, **body})
    assert r.status_code == 201, r.text
    return r.json()


def trained(platform, *, finish: str | None = "succeeded", worker: str = "box/gpu0#7") -> dict:
    """A run taken by a worker (the store's own claim), with two recorded epochs and files in its directory."""
    run = queued(platform)
    token = store.claim_run(platform.engine, run["id"], worker=worker, gpu="0")
    assert store.record_epochs(platform.engine, run["id"], token, [{"epoch": e, **EPOCH} for e in (1, 2)])
    run_dir = platform.settings.run_dir(run["id"])
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps({"epoch": e, **EPOCH}) + "\n" for e in (1, 2)))
    (run_dir / "checkpoint.pt").write_bytes(bytes(range(256)) * 40)
    if finish:
        assert store.finish_run(platform.engine, run["id"], token, finish)
    return platform.client.get(f"/api/runs/{run['id']}").json()


def listed(platform, **params) -> list[int]:
    return [r["id"] for r in platform.client.get("/api/runs", params=params).json()["runs"]]


def test_patch_changes_name_tags_and_notes_and_nothing_else(platform):
    run = queued(platform, name="first", tags=["a", "b"], notes="old")
    r = platform.client.patch(f"/api/runs/{run['id']}", json={"name": "renamed", "tags": ["b", "c"]})
    assert r.status_code == 200, r.text
    edited = r.json()
    assert (edited["name"], edited["tags"], edited["notes"]) == ("renamed", ["b", "c"], "old")
    assert edited["spec"] == run["spec"] and edited["spec_key"] == run["spec_key"]
    assert platform.client.get(f"/api/runs/{run['id']}").json()["tags"] == ["b", "c"]
    assert listed(platform, tag="a") == [] and listed(platform, tag="c") == [run["id"]]
    cleared = platform.client.patch(f"/api/runs/{run['id']}", json={"tags": [], "notes": ""}).json()
    assert (cleared["tags"], cleared["notes"], cleared["name"]) == ([], "", "renamed")
    assert platform.count(RunTag) == 0


def test_patch_refuses_the_spec_and_bad_fields_naming_them_and_changes_nothing(platform):
    run = queued(platform, name="keep", tags=["t"])
    for body, field in (({"spec": TINY_SPEC}, "spec"), ({"name": ""}, "name"), ({"tags": ["no spaces"]}, "tags.0"),
                        ({"archived": "soon"}, "archived"), ({"notes": "x" * 10_001}, "notes")):
        r = platform.client.patch(f"/api/runs/{run['id']}", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["detail"][0]["field"] == field
    after = platform.client.get(f"/api/runs/{run['id']}").json()
    assert (after["name"], after["tags"], after["archived_at"]) == ("keep", ["t"], None)
    assert platform.client.patch("/api/runs/999", json={"name": "x"}).status_code == 404


def test_archived_runs_leave_the_default_list_and_come_back_when_restored(platform):
    kept, archived = queued(platform), queued(platform)
    r = platform.client.patch(f"/api/runs/{archived['id']}", json={"archived": True})
    assert r.status_code == 200 and r.json()["archived_at"] is not None
    assert listed(platform) == [kept["id"]]
    assert listed(platform, archived="true") == [archived["id"]]
    assert listed(platform, archived="any") == [archived["id"], kept["id"]]
    assert platform.client.get("/api/runs", params={"archived": "maybe"}).status_code == 422
    # an archived run is still itself: its page, its metrics
    assert platform.client.get(f"/api/runs/{archived['id']}").json()["archived_at"] is not None
    restored = platform.client.patch(f"/api/runs/{archived['id']}", json={"archived": False}).json()
    assert restored["archived_at"] is None
    assert listed(platform) == [archived["id"], kept["id"]]


def test_delete_removes_a_finished_run_with_its_metrics_tags_and_files(platform):
    run = trained(platform)
    platform.client.patch(f"/api/runs/{run['id']}", json={"tags": ["gone"]})
    other = trained(platform)
    run_dir = platform.settings.run_dir(run["id"])
    assert run_dir.is_dir() and platform.count(Metric) == 4
    r = platform.client.delete(f"/api/runs/{run['id']}")
    assert r.status_code == 204, r.text
    assert platform.client.get(f"/api/runs/{run['id']}").status_code == 404
    assert not run_dir.exists()
    assert (platform.count(Run), platform.count(Metric), platform.count(RunTag)) == (1, 2, 0)
    assert platform.settings.run_dir(other["id"]).is_dir()  # nobody else's files
    assert platform.client.delete(f"/api/runs/{run['id']}").status_code == 404


def test_delete_refuses_a_queued_or_running_run_with_409_saying_to_cancel_first(platform):
    waiting = queued(platform)
    running = trained(platform, finish=None)
    for run in (waiting, running):
        r = platform.client.delete(f"/api/runs/{run['id']}")
        assert r.status_code == 409, r.text
        assert "cancel it first" in r.json()["detail"]
        assert platform.client.get(f"/api/runs/{run['id']}").json()["status"] == run["status"]
    assert platform.settings.run_dir(running["id"]).is_dir() and platform.count(Metric) == 2
    # once cancelled, a queued run can go
    platform.client.post(f"/api/runs/{waiting['id']}/cancel")
    assert platform.client.delete(f"/api/runs/{waiting['id']}").status_code == 204


def test_files_download_streams_the_checkpoint_and_metrics_with_type_and_length(platform):
    run = trained(platform)
    run_dir = platform.settings.run_dir(run["id"])
    r = platform.client.get(f"/api/runs/{run['id']}/files/checkpoint.pt")
    assert r.status_code == 200
    assert r.content == (run_dir / "checkpoint.pt").read_bytes()
    assert r.headers["content-type"] == "application/octet-stream"
    assert int(r.headers["content-length"]) == len(r.content) == 10240
    assert f'filename="run-{run["id"]}-checkpoint.pt"' in r.headers["content-disposition"]
    m = platform.client.get(f"/api/runs/{run['id']}/files/metrics.jsonl")
    assert m.headers["content-type"] == "application/x-ndjson"
    assert [json.loads(line)["epoch"] for line in m.text.splitlines()] == [1, 2]


def test_files_download_404_says_why_and_refuses_other_names(platform):
    run = queued(platform)
    r = platform.client.get(f"/api/runs/{run['id']}/files/checkpoint.pt")
    assert r.status_code == 404 and "no checkpoint.pt" in r.json()["detail"]
    bad = platform.client.get(f"/api/runs/{run['id']}/files/..%2F..%2Fshakelab.db")
    assert bad.status_code in (404, 422)
    assert platform.client.get(f"/api/runs/{run['id']}/files/submitted_spec.json").status_code == 422


def test_queue_lists_queued_runs_in_the_order_workers_take_them(platform):
    first, second = queued(platform), queued(platform)
    trained(platform, finish=None)
    queue = platform.client.get("/api/queue").json()
    assert queue["total"] == 2
    assert [(item["position"], item["run"]["id"]) for item in queue["runs"]] == [(1, first["id"]), (2, second["id"])]
    assert all(item["waited_seconds"] >= 0 and item["published"] is False for item in queue["runs"])


def test_workers_say_which_run_each_trains_and_stale_ones_are_marked(platform):
    store.worker_seen(platform.engine, "box/gpu0#7", gpu="0", slots=1)
    store.worker_seen(platform.engine, "box/gpu1#8", gpu="1", slots=1)
    running = trained(platform, finish=None, worker="box/gpu0#7")
    workers = {w["name"]: w for w in platform.client.get("/api/workers").json()}
    assert workers["box/gpu0#7"]["state"] == "training"
    assert [r["id"] for r in workers["box/gpu0#7"]["runs"]] == [running["id"]]
    assert workers["box/gpu0#7"]["runs"][0]["epochs_done"] == 2
    assert (workers["box/gpu1#8"]["state"], workers["box/gpu1#8"]["runs"]) == ("idle", [])
    store.worker_stopped(platform.engine, "box/gpu1#8")
    with platform.engine.begin() as connection:  # gpu0's worker falls silent (killed) without saying it stopped
        connection.execute(update(Worker).where(Worker.name == "box/gpu0#7")
                           .values(last_seen=utcnow() - timedelta(hours=1)))
    states = {w["name"]: (w["state"], w["alive"]) for w in platform.client.get("/api/workers").json()}
    assert states == {"box/gpu0#7": ("stale", False), "box/gpu1#8": ("stopped", False)}
