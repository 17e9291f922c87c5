"""Load on the platform, against this machine's PostgreSQL and Redis (a fresh database of its own).

1. Submission: 200 runs posted by 20 concurrent clients; every one stored and published to the broker?
   (No worker runs, so the messages wait in Redis where we count them.)
2. Reading at scale: 1000 finished runs of 1800 epochs each (1.8M metric rows, bulk-loaded with their packed
   series), then, ours against the previous way (bench/previous_reads.py, a second API process on the same
   database): the server time of /api/compare for a table's 200 runs (40 cells x 5 seeds), with the columns
   read on demand beside it, ours as a first read (not cached), a repeat read (cached) and a 304 revalidation;
   and p50 / p99 of the runs list (filtered and sorted), one run, a run's metrics
   (thinned, and whole) and a live poll with 20 clients reading at once (asyncio connections: the load
   generator must not be what is measured).
3. The same /api/compare of 200 runs x 1800 epochs on SQLite.

    .venv/bin/python bench/api_load.py [--postgres postgresql+psycopg://postgres@127.0.0.1/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import numpy as np
import redis
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend import series  # noqa: E402
from backend.db import migrate  # noqa: E402
from backend.models import METRIC_FIELDS  # noqa: E402
from backend.store import spec_key  # noqa: E402
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


CELLS, SEEDS = 40, 5  # a paper's table: 40 cells x 5 seeds, the /api/compare of issue 16


def cell_specs(runs: int, epochs: int) -> list[tuple[str, str]]:
    """(spec JSON, spec key) per run: ShakeDrop PyramidNet-272 runs, CELLS values of p_L, seeds 0, 1, 2 ..."""
    specs = {}
    out = []
    for i in range(runs):
        cell, seed = i % CELLS, i // CELLS
        if cell not in specs:
            specs[cell] = parse_spec({"model": {"arch": "pyramidnet", "depth": 272, "alpha": 200, "bottleneck": True},
                                      "regularization": {"method": "shakedrop", "p_last": round(0.3 + 0.005 * cell, 3)},
                                      "optim": {"epochs": epochs}})
        spec = specs[cell].model_copy(update={"seed": seed})
        out.append((spec.model_dump_json(), spec_key(spec), seed))
    return out


def curves(epochs: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Plausible noisy curves with the odd spike (thinning keeps ~4 distinct rows per stretch, as real ones do)."""
    progress = np.arange(1, epochs + 1) / epochs
    test = 2.5 + 60 * np.exp(-6 * progress) + np.abs(rng.normal(0, 0.6, epochs)) + 8.0 * (rng.random(epochs) < 0.005)
    train = np.maximum(0.01, 55 * np.exp(-7 * progress) + np.abs(rng.normal(0, 0.8, epochs)))
    # Errors as the engine records them: percentages of 50,000 training and 10,000 test images.
    test, train = np.round(test * 100) / 100, np.round(train * 500) / 500
    nan = np.full(epochs, np.nan)
    return {"epoch": np.arange(1.0, epochs + 1), "train_loss": train / 40 + rng.random(epochs) * 1e-3,
            "train_error": train, "test_loss": test / 30 + rng.random(epochs) * 1e-3, "test_error": test,
            "lr": 0.05 * (1 + np.cos(np.pi * progress)), "seconds": 30 + rng.normal(0, 1, epochs),
            "images_per_second": 1650 + rng.normal(0, 20, epochs), "val_loss": nan, "val_error": nan}


def bulk_load(db_url: str, runs: int, epochs: int) -> list[int]:
    """Finished runs with their metrics and packed series (as record_epochs leaves them), through PostgreSQL's
    COPY or SQLite's executemany (the API is what is measured, not this). The runs' ids, oldest first."""
    now = datetime.now(timezone.utc)
    rng = np.random.default_rng(0)
    engine = create_engine(db_url)
    raw = engine.raw_connection()
    run_rows, metric_rows, series_rows = [], [], []
    with engine.connect() as c:
        first = (c.scalar(text("SELECT max(id) FROM runs")) or 0) + 1
    for i, (spec_json, key, seed) in enumerate(cell_specs(runs, epochs)):
        run_id = first + i
        columns = curves(epochs, rng)
        test = columns["test_error"]
        run_rows.append((run_id, f"load {i}", "", spec_json, key, "pyramidnet", "shakedrop", "cifar10", seed, epochs,
                         "succeeded", now - timedelta(seconds=runs - i), now, now, False, 1, epochs,
                         float(test.min()), float(test[-1]), float(columns["train_error"][-1]),
                         float(columns["images_per_second"][-1]), float(columns["seconds"].sum())))
        stamp = now - timedelta(seconds=epochs * 30)
        metric_rows.append([(run_id, int(e), *row, stamp) for e, *row in zip(
            *(columns[name].tolist() for name in ("epoch", *METRIC_FIELDS)), strict=True)])
        series_rows.append((run_id, epochs, epochs, series.pack(columns)))
    run_columns = ("id, name, notes, spec, spec_key, arch, method, dataset, seed, epochs, status, created_at, "
                   "started_at, finished_at, cancel_requested, attempts, epochs_done, best_test_error, "
                   "last_test_error, last_train_error, images_per_second, train_seconds")
    metric_columns = f"run_id, epoch, {', '.join(METRIC_FIELDS)}, recorded_at"
    try:
        cursor = raw.cursor()
        if db_url.startswith("postgresql"):
            for table, names, table_rows in (("runs", run_columns, run_rows),
                                             ("metrics", metric_columns, (r for rows in metric_rows for r in rows)),
                                             ("metric_series", "run_id, rows, last_epoch, data", series_rows)):
                with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in table_rows:
                        copy.write_row(row)
            cursor.execute(f"SELECT setval('runs_id_seq', {first + runs})")
        else:
            def marks(n: int) -> str:
                return ", ".join("?" * n)

            def naive(row):  # SQLite keeps naive UTC (backend/models.py UTCDateTime)
                return tuple(v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in row)

            cursor.executemany(f"INSERT INTO runs ({run_columns}) VALUES ({marks(22)})", map(naive, run_rows))
            cursor.executemany(f"INSERT INTO metrics ({metric_columns}) VALUES ({marks(10)})",
                               (naive(r) for rows in metric_rows for r in rows))
            cursor.executemany(f"INSERT INTO metric_series VALUES ({marks(4)})", series_rows)
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return list(range(first, first + runs))


def server_ms(client: httpx.Client, path: str, params: dict, headers: dict | None = None) -> tuple[float, int, int]:
    """Time to the answer's first byte (the server's work, gzip included, on localhost), bytes sent, and
    the JSON's size once decompressed."""
    started = time.perf_counter()
    with client.stream("GET", path, params=params, headers=headers) as r:
        first = time.perf_counter()
        if r.status_code != 304:
            r.raise_for_status()
        raw = b"".join(r.iter_raw())
    body = gzip.decompress(raw) if r.headers.get("content-encoding") == "gzip" else raw
    return (first - started) * 1000, len(raw), len(body)


def compare_table(label: str, servers: dict[str, str], ids: list[int], repeats: int, db_url: str,
                  max_points_list=(500, 1000), previous: bool = True) -> None:
    """/api/compare of the table's runs: ours against the previous way (and the columns read on demand). Ours
    keeps its answers (backend/read_cache.py): its first read is measured with one of the runs touched before
    each sample (a new version: the whole answer built again, as after any change), then a repeat read (the
    kept bytes), a revalidation (If-None-Match: 304), and the first read of the compare page's columns."""
    print(f"\n## /api/compare of {len(ids)} runs ({CELLS} cells x {SEEDS} seeds), {label}: server time "
          f"(first byte), median and max of {repeats}")
    print("| max_points | way | median ms | max ms | bytes sent (gzip) | JSON bytes |")
    print("|---|---|---|---|---|---|")
    engine = create_engine(db_url)

    def touch():  # a write that changes one run's version (migration 0010), not its answer
        with engine.begin() as c:
            c.execute(text("UPDATE runs SET notes = notes WHERE id = :id"), {"id": ids[0]})

    ways = [("previous (ORM rows, pure-Python thinning, pydantic, 17 digits, gzip 3)", "previous", "/api/compare",
             {}, None),
            ("columns on demand (metrics rows, numpy thinning, rounded, orjson)", "previous", "/api/compare-on-demand",
             {}, None),
            ("ours, first read (packed series, numpy thinning, rounded, orjson, ISA-L gzip 1; a run changed before "
             "each: not cached)", "ours", "/api/compare", {}, touch),
            ("ours, first read of the page's columns (columns=test_error&columns=wall_seconds; not cached)", "ours",
             "/api/compare", {"columns": ["test_error", "wall_seconds"]}, touch),
            ("ours, repeat read (cached bytes)", "ours", "/api/compare", {}, None),
            ("ours, revalidation (If-None-Match: 304, no body)", "ours", "/api/compare", {}, "etag")]
    for max_points in max_points_list:
        for name, server, path, extra, before in ways if previous else ways[2:]:
            params = {"ids": ids, "max_points": max_points, **extra}
            with httpx.Client(base_url=servers[server], timeout=120) as client:
                warm = client.get(path, params=params)  # warm the database's and the OS's caches
                headers = {"If-None-Match": warm.headers["etag"]} if before == "etag" else {}
                samples = []
                for _ in range(repeats):
                    if callable(before):
                        before()
                    samples.append(server_ms(client, path, params, headers))
            times = [s[0] for s in samples]
            print(f"| {max_points} | {name} | {statistics.median(times):.0f} | {max(times):.0f} | "
                  f"{samples[-1][1]:,} | {samples[-1][2]:,} |", flush=True)
    engine.dispose()


def concurrent_reads(servers: dict[str, str], ids: list[int], clients: int, per_client: int, epochs: int,
                     interval: float) -> None:
    """p50 / p99 of each read with `clients` clients asking at once. interval 0: a closed loop, each client asks
    again as soon as its answer came (a stress test: 20 dashboards poll every 2-5 s, not back to back);
    else each client asks every `interval` seconds (from a random start), whatever the answer's time."""
    run = ids[len(ids) // 2]
    cases = [
        ("GET /api/runs?status=succeeded&arch=pyramidnet&order=best (100 of the runs)", "/api/runs",
         {"status": "succeeded", "arch": "pyramidnet", "order": "best"}),
        ("GET /api/runs/{id}", f"/api/runs/{run}", {}),
        ("GET /api/runs/{id}/metrics?max_points=500 (thinned)", f"/api/runs/{run}/metrics", {"max_points": 500}),
        (f"GET /api/runs/{{id}}/metrics ({epochs} rows)", f"/api/runs/{run}/metrics", {}),
        (f"GET /api/runs/{{id}}/metrics?after_epoch={epochs - 5} (live poll)", f"/api/runs/{run}/metrics",
         {"after_epoch": epochs - 5}),
    ]
    mode = "closed loop, no pause" if not interval else f"each client every {interval * 1000:.0f} ms"
    print(f"\n## Reads with {clients} concurrent clients (keep-alive connections on asyncio), {per_client} "
          f"requests each ({mode}; ours: repeat reads, each answered from the read cache after a key query), "
          f"{len(ids)} runs x {epochs} epochs in PostgreSQL")
    print("| request | way | p50 ms | p99 ms | max ms | req/s | JSON bytes |")
    print("|---|---|---|---|---|---|---|")

    for label, path, params in cases:
        for way in ("previous", "ours"):
            samples, elapsed = asyncio.run(reading_clients(servers[way], path, params, clients, per_client, interval))
            with httpx.Client(base_url=servers[way]) as client:
                size = len(client.get(path, params=params).content)
            p50, p99 = percentiles(samples)
            print(f"| {label} | {way} | {p50:.1f} | {p99:.1f} | {max(samples) * 1000:.0f} | "
                  f"{len(samples) / elapsed:.0f} | {size:,} |", flush=True)


async def reading_clients(base: str, path: str, params: dict, clients: int, per_client: int,
                          interval: float) -> tuple[list[float], float]:
    """Each client a keep-alive HTTP/1.1 connection asking for `path` as a browser would (gzip accepted),
    on asyncio streams: a request costs the load generator tens of microseconds, where 20 threads of httpx
    cost about a millisecond each and their lock, which the latency would count as the server's."""
    url = httpx.URL(base)
    host, port = url.host, url.port
    target = str(httpx.URL(path, params=params))
    request = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept-Encoding: gzip\r\n\r\n".encode()
    samples: list[float] = []

    async def answer(reader: asyncio.StreamReader) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status = int(head.split(" ", 2)[1])
        headers = {name.strip().lower(): value.strip()
                   for name, value in (line.split(":", 1) for line in head.split("\r\n")[1:] if ":" in line)}
        length = headers.get("content-length")
        if length is None:
            raise RuntimeError(f"{target}: an answer without Content-Length")
        await reader.readexactly(int(length))
        if status != 200:
            raise RuntimeError(f"{target}: HTTP {status}")

    async def one_client(seed: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request)
        await answer(reader)  # a first read, not counted: the connection is open and the answer cached
        start = time.perf_counter() + random.Random(seed).uniform(0, interval)
        for k in range(per_client):
            if interval:
                await asyncio.sleep(max(0.0, start + k * interval - time.perf_counter()))
            started = time.perf_counter()
            writer.write(request)
            await answer(reader)
            samples.append(time.perf_counter() - started)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_client(seed) for seed in range(clients)))
    return samples, time.perf_counter() - started


def load_average() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def reading(system: LiveSystem, db_url: str, runs: int, epochs: int, args) -> None:
    started = time.perf_counter()
    ids = bulk_load(db_url, runs, epochs)
    print(f"\n## Reading with {runs} runs of {epochs} epochs ({runs * epochs:,} metric rows; loaded in "
          f"{time.perf_counter() - started:.0f} s); {load_average()}", flush=True)
    previous = LiveSystem(system.home / "previous", database_url=db_url, env={"SHAKELAB_QUEUE": "unused"})
    previous.start_api(command=("bench/previous_reads.py",))
    try:
        servers = {"ours": system.url, "previous": previous.url}
        compare_table(f"PostgreSQL ({runs} runs stored)", servers, ids[:args.compare_runs], args.compare_repeats,
                      db_url, args.max_points, not args.skip_previous_compare)
        print(f"({load_average()})")
        for interval in args.intervals:
            concurrent_reads(servers, ids, args.clients, args.per_client, epochs, interval)
            print(f"({load_average()})")
    finally:
        previous.stop()


def sqlite_compare(runs: int, epochs: int, args) -> None:
    with tempfile.TemporaryDirectory() as home:
        url = f"sqlite:///{home}/shakelab.db"
        migrate(url)
        started = time.perf_counter()
        ids = bulk_load(url, runs, epochs)
        print(f"\nSQLite: {runs} runs of {epochs} epochs loaded in {time.perf_counter() - started:.0f} s",
              flush=True)
        with LiveSystem(Path(home) / "ours", database_url=url) as ours:
            previous = LiveSystem(Path(home) / "previous", database_url=url)
            previous.start_api(command=("bench/previous_reads.py",))
            try:
                compare_table("SQLite", {"ours": ours.url, "previous": previous.url}, ids, args.compare_repeats, url,
                              args.max_points, not args.skip_previous_compare)
                print(f"({load_average()})")
            finally:
                previous.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                   help="an admin URL: the benchmark creates and drops a database of its own")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=1800)
    p.add_argument("--compare-runs", type=int, default=CELLS * SEEDS)
    p.add_argument("--compare-repeats", type=int, default=5)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--per-client", type=int, default=50, help="requests per client and read")
    p.add_argument("--intervals", type=float, nargs="+", default=[0.0, 0.2, 1.0],
                   help="seconds between a client's requests: 0 is a closed loop")
    p.add_argument("--max-points", type=int, nargs="+", default=[500, 1000], help="/api/compare's max_points")
    p.add_argument("--skip-previous-compare", action="store_true",
                   help="/api/compare ours only (the previous way takes seconds per request)")
    p.add_argument("--skip-submission", action="store_true")
    p.add_argument("--skip-sqlite", action="store_true")
    args = p.parse_args()
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{load_average()}")

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
            if not args.skip_submission:
                submission(system, args.redis, queue, db_url)
            reading(system, db_url, args.runs, args.epochs, args)
        if not args.skip_sqlite:
            sqlite_compare(args.compare_runs, args.epochs, args)
    finally:
        redis.Redis.from_url(args.redis).delete(queue)
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
