"""How fast the compare page draws 50 runs of 1800 epochs, with and without the server thinning the curves.

    python bench/dashboard.py                       # 50 runs x 1800 epochs on SQLite in a temporary folder
    python bench/dashboard.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/shakelab_bench

It writes the runs straight into the store (create_runs, claim_run, record_epochs, finish_run: the same
calls a worker makes), starts the API, and opens the compare page for all the runs in headless Chromium.
Per "points per run" setting it prints the bytes of /api/compare (as sent, and what gzip would make of
them), the server's time to the first byte, and the time from the click to the drawn chart (median of
--repeat, plotly.js already loaded, as when a user comes from the runs list), plus one cold page load.
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend import store  # noqa: E402
from backend.db import make_engine, migrate, session_scope  # noqa: E402
from tests.live import LiveSystem  # noqa: E402
from worker.engine.spec import parse_spec  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# (points per run, group seeds): the compare page's "Points" and "Group seeds"; "all" sends every epoch.
SETTINGS = [("500", True), ("500", False), ("1000", True), ("all", True), ("all", False)]


# ------------------------------------------------------------------------------------------ the data

def headline_specs(count: int, epochs: int) -> list:
    """ShakeDrop PyramidNet-272 α200 runs: count/5 values of p_L, five seeds each (the page groups them)."""
    specs = []
    for i in range(count):
        p_last = round(0.3 + 0.05 * (i // 5), 2)
        specs.append(parse_spec({"model": {"arch": "pyramidnet", "depth": 272, "alpha": 200, "bottleneck": True},
                                 "regularization": {"method": "shakedrop", "p_last": p_last},
                                 "optim": {"epochs": epochs}, "seed": i % 5}))
    return specs


def epoch_rows(epochs: int, rng: random.Random) -> list[dict]:
    """Plausible curves: errors falling under a cosine schedule, with noise and the odd spike."""
    rows = []
    for e in range(1, epochs + 1):
        progress = e / epochs
        lr = 0.05 * (1 + math.cos(math.pi * progress))
        spike = 8.0 if rng.random() < 0.005 else 0.0
        test = 2.5 + 60 * math.exp(-6 * progress) + abs(rng.gauss(0, 0.6)) + spike
        train = max(0.01, 55 * math.exp(-7 * progress) + abs(rng.gauss(0, 0.8)))
        rows.append({"epoch": e, "train_loss": train / 40, "train_error": train, "test_loss": test / 30,
                     "test_error": test, "lr": lr, "seconds": 30 + rng.gauss(0, 1),
                     "images_per_second": 1650 + rng.gauss(0, 20)})
    return rows


def seed_database(url: str, runs: int, epochs: int) -> list[int]:
    migrate(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        ids = [r.id for r in store.create_runs(session, headline_specs(runs, epochs), tags=["bench-dashboard"])]
    rng = random.Random(0)
    for run_id in ids:
        token = store.claim_run(engine, run_id, worker="bench", gpu=None)
        rows = epoch_rows(epochs, rng)
        for start in range(0, epochs, 500):
            store.record_epochs(engine, run_id, token, rows[start:start + 500])
        store.finish_run(engine, run_id, token, "succeeded")
    engine.dispose()
    return ids


# ------------------------------------------------------------------------------------------ the browser

WAIT_FOR_CHART = """async ([hash]) => {
    const t0 = performance.now();
    location.hash = hash;
    await new Promise((resolve) => {
        const drawn = () => document.querySelector('#compare-chart[data-drawn]');
        const check = () => (drawn() ? resolve() : requestAnimationFrame(check));
        check();
    });
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));  // painted
    const compare = performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/compare')).at(-1);
    return {ms: performance.now() - t0, bytes: compare.encodedBodySize,
            ttfb: compare.responseStart - compare.requestStart, download: compare.responseEnd - compare.responseStart};
}"""


def measure(system: LiveSystem, ids: list[int], repeat: int) -> list[dict]:
    from playwright.sync_api import sync_playwright

    results = []
    ids_param = ",".join(map(str, ids))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for points, grouped in SETTINGS:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors = []
            page.on("console", lambda m, errors=errors: m.type == "error" and errors.append(m.text))
            hash_ = f"#/compare?ids={ids_param}&points={points}{'' if grouped else '&group=0'}"
            # A cold load: a fresh page, plotly.js (1.4 MB gzipped) fetched and parsed, then the chart.
            start = time.perf_counter()
            page.goto(f"{system.url}/{hash_}")
            page.wait_for_selector("#compare-chart[data-drawn]", timeout=300_000)
            cold_ms = (time.perf_counter() - start) * 1000
            timings = []
            for _ in range(repeat):
                page.evaluate("() => { location.hash = '#/runs'; }")
                page.wait_for_selector("tbody tr")
                page.evaluate("() => performance.clearResourceTimings()")
                timings.append(page.evaluate(WAIT_FOR_CHART, [hash_]))
            max_points = 100000 if points == "all" else int(points)
            body = system.get("/api/compare", params={"ids": ids, "max_points": max_points}, timeout=300).content
            rows = page.evaluate("() => document.getElementById('compare-chart').data"
                                 ".reduce((n, t) => n + t.x.length, 0)")
            results.append({
                "points": points, "grouped": grouped, "cold_ms": cold_ms,
                "ms": statistics.median(t["ms"] for t in timings),
                "ms_all": [round(t["ms"]) for t in timings], "bytes": timings[-1]["bytes"] or len(body),
                "gzip_bytes": len(gzip.compress(body, 6)), "ttfb": statistics.median(t["ttfb"] for t in timings),
                "download": statistics.median(t["download"] for t in timings), "plotted": rows, "errors": errors,
            })
            page.close()
        browser.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=1800)
    parser.add_argument("--repeat", type=int, default=3, help="measured opens per setting (median printed)")
    parser.add_argument("--database-url", help="an empty PostgreSQL database, say; default: SQLite in a temporary "
                        "folder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="shakelab-bench-") as home:
        url = args.database_url or f"sqlite:///{home}/shakelab.db"
        start = time.perf_counter()
        ids = seed_database(url, args.runs, args.epochs)
        print(f"seeded {len(ids)} runs x {args.epochs} epochs into {url.split('@')[-1]} "
              f"in {time.perf_counter() - start:.1f} s", flush=True)
        with LiveSystem(Path(home), database_url=args.database_url, env={"OMP_NUM_THREADS": "1"}) as system:
            results = measure(system, ids, args.repeat)

    print(f"\nmachine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}")
    print(f"compare page, {args.runs} runs x {args.epochs} epochs, {args.runs // 5} seed groups; "
          f"median of {args.repeat} opens\n")
    print("| points per run | seeds | curve points plotted | /api/compare bytes | gzip would send | server (TTFB) ms "
          "| download ms | click to chart ms | cold page load ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        label = "every epoch (no thinning)" if r["points"] == "all" else f"{r['points']} (thinned, extrema kept)"
        seeds = f"grouped ({args.runs // 5} bands)" if r["grouped"] else f"{args.runs} separate curves"
        print(f"| {label} | {seeds} | {r['plotted']:,} | {r['bytes']:,} | {r['gzip_bytes']:,} | {r['ttfb']:.0f} "
              f"| {r['download']:.0f} | {r['ms']:.0f} {r['ms_all']} | {r['cold_ms']:.0f} |")
    errors = [e for r in results for e in r["errors"]]
    if errors:
        print("\nconsole errors:", *errors, sep="\n  ")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
