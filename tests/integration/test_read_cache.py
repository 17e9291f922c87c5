"""The read caches (backend/read_cache.py) on SQLite and PostgreSQL: a repeat read is served from the cache (or
304 with its ETag), and after every kind of write (each mutating route, each store function a worker or the
dispatcher calls, and SQL written by hand) the next read answers what an empty cache would answer: nothing is
stale, whichever path wrote."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import text

from backend import store
from backend.db import session_scope
from backend.read_cache import ReadCache
from backend.series import refresh_series
from tests.integration.test_reads import noisy_epochs, spec_of, trained
from tests.live import TINY_SPEC


def reads(ids: list[int]) -> list[tuple[str, dict]]:
    one = ids[0]
    return [("/api/runs", {"archived": "any"}), ("/api/runs", {"offset": 50}),  # an empty page: the total alone
            ("/api/runs", {"status": ["succeeded", "queued"], "order": "best"}),
            (f"/api/runs/{one}", {}), (f"/api/runs/{one}/metrics", {"max_points": 8}),
            (f"/api/runs/{one}/metrics", {"after_epoch": 3}), ("/api/compare", {"ids": ids, "max_points": 8}),
            ("/api/compare", {"ids": ids, "columns": ["test_error"]})]


def fresh(platform, path: str, params: dict):
    """The answer as an empty cache builds it."""
    app = platform.client.app
    kept, app.state.read_cache = app.state.read_cache, ReadCache()
    try:
        return platform.client.get(path, params=params)
    finally:
        app.state.read_cache = kept


def snapshot(platform, ids: list[int]) -> list:
    out = []
    for path, params in reads(ids):
        first = platform.client.get(path, params=params)
        again = platform.client.get(path, params=params)  # from the cache
        assert again.status_code == first.status_code
        if first.status_code != 200:
            out.append((first.status_code, None, None))
            continue
        assert again.json() == first.json() and again.headers["etag"] == first.headers["etag"]
        out.append((200, first.headers["etag"], first.json()))
    return out


def assert_current(platform, ids: list[int], before: list) -> int:
    """Each read answers what an empty cache answers; a changed answer has a new ETag (and the old one gets the
    answer, not 304). The number of answers that changed."""
    changed = 0
    for (path, params), (code, tag, body) in zip(reads(ids), before, strict=True):
        got, expected = platform.client.get(path, params=params), fresh(platform, path, params)
        assert got.status_code == expected.status_code, (path, params)
        if got.status_code != 200:
            changed += code != got.status_code
            continue
        assert got.json() == expected.json(), (path, params)
        if body is not None and got.json() != body:
            changed += 1
            assert got.headers["etag"] != tag
            revalidated = platform.client.get(path, params=params, headers={"If-None-Match": tag})
            assert revalidated.status_code == 200 and revalidated.json() == got.json()
    return changed


def test_a_repeat_read_comes_from_the_cache_and_revalidates_with_304(platform):
    run = trained(platform, spec_of(30), noisy_epochs(30, random.Random(1)))
    cache = platform.client.app.state.read_cache
    for path, params in reads([run]):
        first = platform.client.get(path, params=params)
        hits = cache.hits
        again = platform.client.get(path, params=params)
        assert cache.hits == hits + 1, path
        assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
        assert again.headers["cache-control"] == "no-cache"
        not_modified = platform.client.get(path, params=params, headers={"If-None-Match": first.headers["etag"]})
        assert not_modified.status_code == 304 and not_modified.content == b""
    # Answers sent compressed and plain are kept apart, each with its own ETag.
    path, params = "/api/compare", {"ids": [run]}
    plain = platform.client.get(path, params=params, headers={"Accept-Encoding": "identity"})
    packed = platform.client.get(path, params=params)
    assert "content-encoding" not in plain.headers and packed.headers["content-encoding"] == "gzip"
    assert plain.json() == packed.json() and plain.headers["etag"] != packed.headers["etag"]


def test_compare_columns_sends_only_those_and_thins_the_same_epochs(platform):
    run = trained(platform, spec_of(60), noisy_epochs(60, random.Random(2)))
    whole = platform.client.get("/api/compare", params={"ids": [run], "max_points": 10}).json()
    some = platform.client.get("/api/compare", params={"ids": [run], "max_points": 10,
                                                       "columns": ["test_error", "wall_seconds"]}).json()
    [w], [s] = whole["metrics"], some["metrics"]
    assert s["epoch"] == w["epoch"] and w["downsampled"]
    assert s["test_error"] == w["test_error"] and s["wall_seconds"] == w["wall_seconds"]
    assert s["train_error"] is None and s["lr"] is None and w["lr"] is not None
    assert some["runs"] == whole["runs"] and some["groups"] == whole["groups"]
    bad = platform.client.get("/api/compare", params={"ids": [run], "columns": ["test_error", "accuracy"]})
    assert bad.status_code == 422
    [error] = bad.json()["detail"]
    assert error["field"] == "columns.1" and "test_error" in error["msg"]


def test_every_write_changes_what_the_next_read_answers(platform):
    rng = random.Random(3)
    engine, client = platform.engine, platform.client
    done = trained(platform, spec_of(30), noisy_epochs(30, rng))
    other = trained(platform, spec_of(30, seed=1), noisy_epochs(30, rng))
    queued = client.post("/api/runs", json={"spec": spec_of(30, seed=2)}).json()["id"]
    ids = [done, other, queued]
    token: dict[str, str | None] = {}

    def claim():
        token["t"] = store.claim_run(engine, queued, worker="w1", gpu="0")

    def sql(statement: str):
        def write():
            with engine.begin() as connection:
                connection.execute(text(statement))
        return write

    def in_session(function, *args, **kwargs):
        def write():
            with session_scope(engine) as session:
                function(session, *args, **kwargs)
        return write

    writes = [
        ("PATCH name", lambda: client.patch(f"/api/runs/{done}", json={"name": "renamed"})),
        ("PATCH notes", lambda: client.patch(f"/api/runs/{done}", json={"notes": "a note"})),
        ("PATCH tags (add)", lambda: client.patch(f"/api/runs/{done}", json={"tags": ["a", "b", "c"]})),
        ("PATCH tags (remove)", lambda: client.patch(f"/api/runs/{done}", json={"tags": ["c"]})),
        ("PATCH archive", lambda: client.patch(f"/api/runs/{done}", json={"archived": True})),
        ("PATCH restore", lambda: client.patch(f"/api/runs/{done}", json={"archived": False})),
        ("store.edit_run", in_session(store.edit_run, done, tags=[])),
        ("store.set_archived", in_session(store.set_archived, done, True)),
        ("POST /api/runs", lambda: client.post("/api/runs", json={"spec": {**TINY_SPEC, "seed": 9}})),
        ("POST rerun", lambda: client.post(f"/api/runs/{done}/rerun", json={"new_seed": True})),
        ("mark_dispatched", lambda: store.mark_dispatched(engine, queued, store.utcnow())),
        ("claim_run", claim),
        ("heartbeat", lambda: store.heartbeat(engine, queued, token["t"])),
        ("record_epochs", lambda: store.record_epochs(engine, queued, token["t"], noisy_epochs(5, rng))),
        ("record_epochs again", lambda: store.record_epochs(
            engine, queued, token["t"], [{**e, "epoch": e["epoch"] + 5} for e in noisy_epochs(3, rng)])),
        ("release_run", lambda: store.release_run(engine, queued, token["t"], "worker stopping")),
        ("claim_run again", claim),
        ("requeue_stale", lambda: store.requeue_stale(engine, stale_after=-1, max_attempts=5)),
        ("claim_run a third time", claim),
        ("POST cancel", lambda: client.post(f"/api/runs/{queued}/cancel")),
        ("finish_cancelled", lambda: store.finish_cancelled(engine, queued, token["t"])),
        ("refresh_series", in_session(refresh_series, queued)),
        ("SQL on runs", sql(f"UPDATE runs SET error = 'by hand' WHERE id = {done}")),
        ("SQL on run_tags", sql(f"INSERT INTO run_tags (run_id, tag) VALUES ({done}, 'by-hand')")),
        ("SQL on metric_series", sql(f"DELETE FROM metric_series WHERE run_id = {other}")),
        ("DELETE run", lambda: client.delete(f"/api/runs/{other}")),
    ]
    unchanged = []
    for name, write in writes:
        before = snapshot(platform, ids)
        result = write()
        if hasattr(result, "status_code"):
            assert result.status_code < 400, (name, result.text)
        if not assert_current(platform, ids, before):
            unchanged.append(name)
    # Every other write above changes some answer: dispatched_at is in no answer, refresh_series rewrites the
    # same epochs, and a deleted series is read again from the rows, the same numbers.
    assert unchanged == ["mark_dispatched", "refresh_series", "SQL on metric_series"]


@pytest.mark.parametrize("write", [
    "UPDATE runs SET notes = 'x' WHERE id = :id",
    "UPDATE runs SET status = status WHERE id = :id",
    "INSERT INTO run_tags (run_id, tag) VALUES (:id, 'new-' || :tag)",
    "DELETE FROM run_tags WHERE run_id = :id AND tag = :tag",  # the run's tags are a and b
    "UPDATE metric_series SET rows = rows WHERE run_id = :id",
])
def test_the_database_gives_a_run_a_new_version_at_every_write(platform, write):
    run = trained(platform, spec_of(10), noisy_epochs(10, random.Random(4)))
    versions = []
    for tag in ("a", "b", None):
        with platform.engine.begin() as connection:
            versions.append(connection.scalar(text("SELECT version FROM runs WHERE id = :id"), {"id": run}))
            if tag:
                connection.execute(text(write), {"id": run, "tag": tag})
    assert versions == sorted(set(versions))  # two writes, each a larger version


def test_the_runs_generation_moves_once_per_committed_change_and_keeps_lists_current(platform):
    """Migration 0012: the runs lists' key skips its query while the count of committed changes of runs stands
    still, so every change must move it, at commit and not before, and a run deleted without tags or series
    (no child row's trigger to fire) as well."""
    engine, client = platform.engine, platform.client
    ids = [client.post("/api/runs", json={"spec": {**TINY_SPEC, "seed": k}}).json()["id"] for k in range(3)]

    def generation() -> int:
        with engine.connect() as connection:
            return connection.scalar(text("SELECT value FROM run_version_counter"))

    def listed() -> list[int]:
        return [run["id"] for run in client.get("/api/runs", params={"archived": "any"}).json()["runs"]]

    assert sorted(listed()) == ids
    before = generation()
    with engine.connect() as connection:
        with connection.begin() as transaction:
            connection.execute(text("UPDATE runs SET notes = 'n' WHERE id IN (:a, :b)"), {"a": ids[0], "b": ids[1]})
            assert generation() == before  # not yet committed: nobody sees it
            transaction.rollback()
    assert generation() == before
    with engine.begin() as connection:
        connection.execute(text("UPDATE runs SET notes = 'n' WHERE id IN (:a, :b)"), {"a": ids[0], "b": ids[1]})
    moved = generation()
    # PostgreSQL bumps once per transaction; SQLite's triggers once per row (its writers take turns anyway).
    assert moved == before + 1 if engine.dialect.name == "postgresql" else moved > before
    assert [run["notes"] for run in client.get("/api/runs").json()["runs"] if run["id"] in ids[:2]] == ["n", "n"]
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM runs WHERE id = :id"), {"id": ids[2]})
    assert generation() > moved
    assert sorted(listed()) == ids[:2]
