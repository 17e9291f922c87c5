"""Load on the platform, against this machine's PostgreSQL and Redis (a fresh database of its own).

1. Submission: 200 runs posted by 20 concurrent clients; every one stored and published to the broker?
   (No worker runs, so the messages wait in Redis where we count them.)
2. Reading at scale: 1000 finished runs of 1800 epochs each (1.8M metric rows, bulk-loaded), then the
   latency (p50, p99) of the list, run, metrics and compare endpoints.

    .venv/bin/python bench/api_load.py [--postgres postgresql+psycopg://postgres@127.0.0.1/postgres]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import redis
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.db import migrate  # noqa: E402
from tests.live import TINY_SPEC, LiveSystem  # noqa: E402
from worker.engine.spec import parse_spec  # noqa: E402


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000


def timed(client: httpx.Client, method: str, path: str, **kw) -> float:
    started = time.perf_counter()
    r = client.request(method, path, **kw)
    r.raise_for_status()
    return time.perf_counter() - started


def submission(system: LiveSystem, broker: str, queue: str, db_url: str, runs: int = 200, clients: int = 20):
    def client_job(i: int) -> list[float]:
        with httpx.Client(base_url=system.url, timeout=60) as client:
            return [timed(client, "POST", "/api/runs", json={"spec": {**TINY_SPEC, "seed": i * 1000 + k}})
                    for k in range(runs // clients)]

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [t for job in pool.map(client_job, range(clients)) for t in job]
    elapsed = time.perf_counter() - started
    engine = create_engine(db_url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with engine.connect() as c:
            stored = c.scalar(text("SELECT count(*) FROM runs"))
            dispatched = c.scalar(text("SELECT count(*) FROM runs WHERE dispatched_at IS NOT NULL"))
        if dispatched == runs:
            break
        time.sleep(0.2)
    all_dispatched = time.perf_counter() - started
    engine.dispose()
    messages = redis.Redis.from_url(broker).llen(queue)
    p50, p99 = percentiles(latencies)
    print(f"\n## Submission: {runs} runs from {clients} concurrent clients")
    print("| runs stored | published (messages in Redis) | wall s | runs/s | POST p50 ms | POST p99 ms | "
          "all dispatched after s |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {stored}/{runs} | {dispatched}/{runs} ({messages}) | {elapsed:.2f} | {runs / elapsed:.0f} | "
          f"{p50:.1f} | {p99:.1f} | {all_dispatched:.2f} |")


def bulk_load(db_url: str, runs: int, epochs: int) -> None:
    """Finished runs with their metrics, through PostgreSQL's COPY (the API is what is measured, not this)."""
    spec = parse_spec({"model": {"arch": "shake_resnet", "depth": 26, "width": 96},
                       "regularization": {"method": "shake_shake"}})
    from backend.store import spec_key
    key, spec_json = spec_key(spec), spec.model_dump_json()
    now = datetime.now(timezone.utc)
    raw = create_engine(db_url).raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT coalesce(max(id), 0) FROM runs")
        first = cursor.fetchone()[0] + 1
        with cursor.copy("COPY runs (id, name, notes, spec, spec_key, arch, method, dataset, seed, epochs, status, "
                         "created_at, started_at, finished_at, cancel_requested, attempts, epochs_done, "
                         "best_test_error, last_test_error, last_train_error, images_per_second, train_seconds) "
                         "FROM STDIN") as copy:
            for i in range(runs):
                copy.write_row((first + i, f"load {i}", "", spec_json, key, "shake_resnet", "shake_shake", "cifar10",
                                i, epochs, "succeeded", now, now, now, False, 1, epochs, 2.9, 3.0, 0.1, 2000.0,
                                epochs * 25.0))
        with cursor.copy("COPY metrics (run_id, epoch, train_loss, train_error, test_loss, test_error, lr, seconds, "
                         "images_per_second, recorded_at) FROM STDIN") as copy:
            for i in range(runs):
                for e in range(1, epochs + 1):
                    error = 3.0 + 60.0 / e
                    copy.write_row((first + i, e, 0.01, error, 0.2, error, 0.1, 25.0, 2000.0,
                                    now - timedelta(seconds=(epochs - e) * 25)))
        cursor.execute(f"SELECT setval('runs_id_seq', {first + runs})")
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def reading(system: LiveSystem, db_url: str, runs: int, epochs: int, repeats: int) -> None:
    started = time.perf_counter()
    bulk_load(db_url, runs, epochs)
    print(f"\n## Reading with {runs} runs of {epochs} epochs ({runs * epochs:,} metric rows; loaded in "
          f"{time.perf_counter() - started:.0f} s)")
    with httpx.Client(base_url=system.url, timeout=60) as client:
        ids = [r["id"] for r in client.get("/api/runs", params={"limit": 1000, "arch": "shake_resnet"}).json()["runs"]]
        some = ids[:50]
        cases = [
            ("GET /api/runs (newest 100)", "/api/runs", {}),
            ("GET /api/runs?limit=1000", "/api/runs", {"limit": 1000}),
            ("GET /api/runs?status=succeeded&arch=shake_resnet&order=best", "/api/runs",
             {"status": "succeeded", "arch": "shake_resnet", "order": "best"}),
            ("GET /api/runs/{id}", f"/api/runs/{ids[len(ids) // 2]}", {}),
            (f"GET /api/runs/{{id}}/metrics ({epochs} rows)", f"/api/runs/{ids[len(ids) // 2]}/metrics", {}),
            ("GET /api/runs/{id}/metrics?max_points=500", f"/api/runs/{ids[len(ids) // 2]}/metrics",
             {"max_points": 500}),
            ("GET /api/runs/{id}/metrics?after_epoch=1795 (live poll)", f"/api/runs/{ids[len(ids) // 2]}/metrics",
             {"after_epoch": epochs - 5}),
            ("GET /api/compare (50 runs, max_points=500)", "/api/compare", {"ids": some, "max_points": 500}),
        ]
        print("| request | p50 ms | p99 ms | bytes |")
        print("|---|---|---|---|")
        for label, path, params in cases:
            n = max(5, repeats // 10) if "compare" in label or "limit=1000" in label else repeats
            samples = [timed(client, "GET", path, params=params) for _ in range(n)]
            size = len(client.get(path, params=params).content)
            p50, p99 = percentiles(samples)
            print(f"| {label} | {p50:.1f} | {p99:.1f} | {size:,} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                   help="an admin URL: the benchmark creates and drops a database of its own")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=1800)
    p.add_argument("--repeats", type=int, default=200)
    args = p.parse_args()

    name = f"shakelab_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
    queue = f"shakelab-bench-{uuid.uuid4().hex[:8]}"
    try:
        migrate(db_url)
        with tempfile.TemporaryDirectory() as home, \
                LiveSystem(Path(home), database_url=db_url, broker_url=args.redis,
                           env={"SHAKELAB_QUEUE": queue, "SHAKELAB_DISPATCH_INTERVAL_SECONDS": "1"}) as system:
            print(f"API: one uvicorn process on {system.url}; PostgreSQL database {name}; Redis queue {queue}")
            submission(system, args.redis, queue, db_url)
            reading(system, db_url, args.runs, args.epochs, args.repeats)
    finally:
        redis.Redis.from_url(args.redis).delete(queue)
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
