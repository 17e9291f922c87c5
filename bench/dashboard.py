"""How fast the compare page draws a paper table's runs (200 runs of 1800 epochs: 40 cells x 5 seeds), ours
against the previous way, with the server thinning the curves to the page's settings.

    python bench/dashboard.py                       # 200 runs x 1800 epochs on SQLite in a temporary folder
    python bench/dashboard.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/shakelab_bench

It bulk-loads the runs with their packed series (bench/api_load.py's bulk_load: what record_epochs leaves),
starts the API and, on the same database, the API with the previous read path (bench/previous_reads.py), and
opens the compare page for all the runs in headless Chromium against each. Per "points per run" setting it
prints the bytes of /api/compare (as sent, and the JSON's size), the server's time to the first byte, and,
from the click (median of --repeat, plotly.js already loaded, as when a user comes from the runs list): the
chart painted; the first viewport (1400x900) drawn, which is the chart unless the statistics panel starts in
that viewport; the whole page drawn, the statistics panel's own charts included; and, separately, the
interactive parallel coordinates (Plotly's WebGL `parcoords`, drawn only when a person opens them) from the
click that opens them to drawn. Plus one cold page load.

A third way, "webgl-panel", is our API with the dashboard's files of --webgl-panel-ref (the page before the
statistics panel's parallel coordinates became SVG, which drew the WebGL ones with the panel).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.db import migrate  # noqa: E402
from bench.api_load import CELLS, SEEDS, bulk_load  # noqa: E402
from tests.live import LiveSystem  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# (points per run, group seeds): the compare page's "Points" and "Group seeds"; "all" sends every epoch.
SETTINGS = [("500", True), ("500", False), ("1000", True)]
# The commit before issue 16 changed the read path (the previous way's dashboard files come from it).
PREVIOUS_REF = "9d05b88"
# The last commit whose compare page drew the WebGL parallel coordinates with the statistics panel.
WEBGL_PANEL_REF = "b22c457"


# ------------------------------------------------------------------------------------------ the data

def seed_database(url: str, runs: int, epochs: int) -> list[int]:
    migrate(url)
    return bulk_load(url, runs, epochs)


# ------------------------------------------------------------------------------------------ the browser

WAIT_FOR_CHART = """async ([hash]) => {
    window.scrollTo(0, 0);
    performance.clearMarks();
    performance.clearMeasures();
    const t0 = performance.now();
    location.hash = hash;
    const until = (test) => new Promise((resolve) => {
        const check = () => (test() ? resolve() : setTimeout(check, 5));
        check();
    });
    const painted = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    const mark = (name) => performance.getEntriesByName(name).at(-1);
    await until(() => document.querySelector('#compare-chart[data-drawn]'));
    // The page marks the chart painted (a frame after Plotly drew it), before it draws the statistics panel.
    // (The previous page drew its statistics panel first and marks nothing: two frames after it, as measured before.)
    const chartMark = mark('shakelab:compare-chart-painted');
    if (!chartMark) await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    const chart = chartMark ? chartMark.startTime : performance.now();
    // Then the statistics panel's charts: ours marks them drawn; on the earlier pages the last to draw is the
    // parallel coordinates (WebGL), unless hidden (no spec field differs).
    const interactive = document.getElementById('compare-parallel-interactive');
    const parallel = document.getElementById('compare-parallel-chart');
    if (interactive) await until(() => mark('shakelab:compare-panel-drawn'));
    else await until(() => parallel.hidden || parallel.dataset.lines);
    await painted();
    const all = performance.now();
    // The first viewport: the chart, or the whole page when the statistics panel starts inside it.
    const panelTop = document.querySelector('.stats-panel').getBoundingClientRect().top;
    const firstViewport = panelTop < innerHeight ? all : chart;
    const svg = performance.getEntriesByName('shakelab:compare-parallel-svg').at(-1);
    // The deferred chart: scrolled to, opened with a click, until drawn and painted.
    let opened = null;
    let webgl = null;
    if (interactive && !parallel.hidden) {
        interactive.closest('details').scrollIntoView();
        await painted();
        const t1 = performance.now();
        interactive.closest('details').querySelector('summary').click();
        await until(() => interactive.dataset.lines);
        await painted();
        opened = performance.now() - t1;
        webgl = !interactive.textContent.includes('WebGL is not supported');
    }
    const compare = performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/compare')).at(-1);
    return {ms: chart - t0, viewport_ms: firstViewport - t0, all_ms: all - t0, opened_ms: opened, webgl,
            svg_ms: svg ? svg.duration : null, panel_in_viewport: panelTop < innerHeight,
            bytes: compare.encodedBodySize, url: compare.name,
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
            asked = urlsplit(timings[-1]["url"])  # the page's own request: its max_points and columns
            body = system.get(f"{asked.path}?{asked.query}", timeout=300).content
            rows = page.evaluate("() => document.getElementById('compare-chart').data"
                                 ".reduce((n, t) => n + t.x.length, 0)")
            opened = [t["opened_ms"] for t in timings if t["opened_ms"] is not None]
            svg = [t["svg_ms"] for t in timings if t["svg_ms"] is not None]
            if any(t["webgl"] is False for t in timings):
                errors.append("the interactive parallel coordinates said 'WebGL is not supported'")
            results.append({
                "json_bytes": len(body), "points": points, "grouped": grouped, "cold_ms": cold_ms,
                "ms": statistics.median(t["ms"] for t in timings),
                "viewport_ms": statistics.median(t["viewport_ms"] for t in timings),
                "all_ms": statistics.median(t["all_ms"] for t in timings),
                "all_ms_all": [round(t["all_ms"]) for t in timings],
                "opened_ms": statistics.median(opened) if opened else None,
                "svg_ms": statistics.median(svg) if svg else None,
                "panel_in_viewport": any(t["panel_in_viewport"] for t in timings),
                "ms_all": [round(t["ms"]) for t in timings], "bytes": timings[-1]["bytes"] or len(body),
                "ttfb": statistics.median(t["ttfb"] for t in timings),
                "download": statistics.median(t["download"] for t in timings), "plotted": rows, "errors": errors,
            })
            page.close()
        browser.close()
    return results


def frontend_of(ref: str, folder: Path) -> Path:
    """The dashboard's files as they were at the git commit `ref`, extracted under `folder`."""
    folder.mkdir()
    archive = subprocess.run(["git", "archive", ref, "frontend"], cwd=ROOT, capture_output=True, check=True).stdout
    tarfile.open(fileobj=io.BytesIO(archive)).extractall(folder, filter="data")
    return folder / "frontend"


def serve_with_frontend(directory: str) -> int:
    """Our API (as `python -m backend api` serves it) with the dashboard's files from `directory`."""
    import uvicorn

    from backend.api import Frontend, create_app
    from backend.settings import get_settings

    settings = get_settings()
    app = create_app(settings)
    for route in app.router.routes:
        if getattr(route, "name", None) == "frontend":
            route.app = Frontend(directory=directory, html=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=CELLS * SEEDS)
    parser.add_argument("--epochs", type=int, default=1800)
    parser.add_argument("--repeat", type=int, default=3, help="measured opens per setting (median printed)")
    parser.add_argument("--database-url", help="an empty PostgreSQL database, say; default: SQLite in a temporary "
                        "folder")
    parser.add_argument("--ways", default="previous,webgl-panel,ours")
    parser.add_argument("--previous-ref", default=PREVIOUS_REF, help="the git commit whose frontend/ the previous "
                        "way serves (default: the last one before issue 16's reads)")
    parser.add_argument("--webgl-panel-ref", default=WEBGL_PANEL_REF, help="the git commit whose frontend/ the "
                        "webgl-panel way serves with our API (default: the last one whose statistics panel drew the "
                        "WebGL parallel coordinates)")
    parser.add_argument("--serve-frontend", metavar="DIR", help=argparse.SUPPRESS)  # the webgl-panel way's server
    args = parser.parse_args()
    if args.serve_frontend:
        return serve_with_frontend(args.serve_frontend)

    results = {}
    with tempfile.TemporaryDirectory(prefix="shakelab-bench-") as home:
        url = args.database_url or f"sqlite:///{home}/shakelab.db"
        start = time.perf_counter()
        ids = seed_database(url, args.runs, args.epochs)
        print(f"seeded {len(ids)} runs x {args.epochs} epochs into {url.split('@')[-1]} "
              f"in {time.perf_counter() - start:.1f} s", flush=True)
        frontends = {way: frontend_of(ref, Path(home) / f"{way}-frontend")
                     for way, ref in (("previous", args.previous_ref), ("webgl-panel", args.webgl_panel_ref))}
        for way in args.ways.split(","):
            env = {"OMP_NUM_THREADS": "1"}
            command = {}
            if way == "previous":
                env["SHAKELAB_PREVIOUS_FRONTEND"] = str(frontends[way])
                command = {"command": ("bench/previous_reads.py",)}
            elif way == "webgl-panel":
                command = {"command": ("bench/dashboard.py", "--serve-frontend", str(frontends[way]))}
            system = LiveSystem(Path(home) / way, database_url=url, env=env)
            system.start_api(**command)
            try:
                results[way] = measure(system, ids, args.repeat)
            finally:
                system.stop()
            print(f"{way}: measured; load average {os.getloadavg()[0]:.2f}", flush=True)

    print(f"\nmachine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}; load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"compare page, {args.runs} runs x {args.epochs} epochs, {args.runs // SEEDS} seed groups; "
          f"median of {args.repeat} opens\n")
    print("| points per run | seeds | way | curve points plotted | /api/compare bytes sent | JSON bytes "
          "| server (TTFB) ms | download ms | click to chart ms | first viewport drawn ms | whole page drawn ms "
          "| SVG parallel coordinates ms | interactive (WebGL) parallel coordinates, open to drawn ms "
          "| cold page load ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for i, (points, grouped) in enumerate(SETTINGS):
        for way, rows in results.items():
            r = rows[i]
            label = "every epoch (no thinning)" if points == "all" else f"{points} (thinned, extrema kept)"
            seeds = f"grouped ({args.runs // SEEDS} bands)" if grouped else f"{args.runs} separate curves"
            optional = [f"{r[k]:.0f}" if r[k] is not None else "-" for k in ("svg_ms", "opened_ms")]
            print(f"| {label} | {seeds} | {way} | {r['plotted']:,} | {r['bytes']:,} | {r['json_bytes']:,} "
                  f"| {r['ttfb']:.0f} | {r['download']:.0f} | {r['ms']:.0f} {r['ms_all']} | {r['viewport_ms']:.0f}"
                  f"{' (panel in view)' if r['panel_in_viewport'] else ''} | {r['all_ms']:.0f} {r['all_ms_all']} "
                  f"| {optional[0]} | {optional[1]} | {r['cold_ms']:.0f} |")
    errors = [e for rows in results.values() for r in rows for e in r["errors"]]
    if errors:
        print("\nconsole errors:", *errors, sep="\n  ")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
