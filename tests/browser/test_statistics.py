"""Statistics on the pages: the compare page's intervals, a two-group test and the seeds planner; a table
cell's verdict against the paper, and the Reproduce dialog's seeds a cell needs."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from backend import store
from backend.db import get_engine, session_scope
from backend.settings import Settings
from backend.tables.profiles import table_specs

from .chromium import CHROMIUM, DESKTOP, WEBGL_ARGS, ConsoleWatch
from .runs import create_seeds, finished, tiny_spec

T1 = "shake_shake_table1_cifar10"
CELL = "s-s-i:2x96d"  # the paper: 2.86


def test_compare_shows_each_groups_interval_and_tests_two_groups(page, live):
    runs = [*create_seeds(live, "lr 0.1", tiny_spec(), [0, 1]),
            *create_seeds(live, "lr 0.05", tiny_spec(optim={"lr": 0.05}), [0, 1])]
    finished(live, *runs)
    page.goto(f"/#/compare?ids={','.join(str(r['id']) for r in runs)}")
    rows = page.locator(".interval-table tbody tr")
    expect(rows).to_have_count(2)
    for i in range(2):
        expect(rows.nth(i).locator("td").nth(1)).to_have_text("2")  # n
        expect(rows.nth(i).locator("td.interval")).to_have_text(re.compile(r"^\[-?[\d.]+, -?[\d.]+\]$"))
    with page.expect_download() as download:
        page.get_by_role("button", name="Download statistics (CSV)").click()
    lines = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    groups = live.get("/api/compare", params={"ids": [r["id"] for r in runs]}).json()["groups"]
    expected = {g["spec_key"]: g["metrics"]["test_error"]["last"] for g in groups}
    assert len(lines) == 2 and {line["spec_key"] for line in lines} == set(expected)
    for line in lines:
        last = expected[line["spec_key"]]
        assert (line["metric"], line["last_n"]) == ("test_error", "2")
        assert [float(line[k]) for k in ("last_mean", "last_ci95_low", "last_ci95_high")] == \
            pytest.approx([last["mean"], *last["ci95"]])
        half = (last["ci95"][1] - last["ci95"][0]) / 2
        assert re.fullmatch(r"-?[\d.]+ ± [\d.]+ \(n=2\)", line["last_mean_pm_ci95"])
        assert float(line["last_mean_pm_ci95"].split(" ± ")[1].split(" ")[0]) == pytest.approx(half, abs=6e-4)
    chart = page.locator("#compare-setting-chart")
    expect(chart).to_have_attribute("data-points", "2", timeout=20_000)  # one point a setting, not a run
    parallel = page.locator("#compare-parallel-chart")
    expect(parallel).to_have_attribute("data-lines", "2", timeout=20_000)  # parallel coordinates: a line a setting
    expect(parallel.locator(".pc-line")).to_have_count(2)
    expect(parallel.locator(".pc-axis-label")).to_contain_text(["Learning rate", "seeds (n)", "Test error (%), mean",
                                                                "± 95% CI"])
    page.get_by_role("button", name="Test the difference").click()
    verdict = page.locator(".verdict")
    expect(verdict).to_contain_text("n = 2 and 2")
    expect(page.locator(".two-group-figures")).to_contain_text("Mann-Whitney U rank test")
    page.get_by_label("Difference to tell apart (Δ)").fill("0.5")
    page.get_by_role("button", name="Plan seeds").click()
    expect(page.locator(".plan-sentence")).to_contain_text(
        re.compile(r"^to tell 0\.5 apart at σ [\d.]+ you need \d+ seeds a group"))
    page.snap("compare-statistics")


def test_the_panels_numbers_and_svg_chart_come_with_the_chart_and_the_webgl_one_when_opened(page, live):
    """The statistics panel is drawn in the same task as the chart's end: its intervals and its SVG parallel
    coordinates are there as soon as the chart is; Plotly's WebGL parcoords (a second without a GPU) is drawn
    only when a person opens it."""
    runs = [*create_seeds(live, "lr 0.1", tiny_spec(), [0, 1]),
            *create_seeds(live, "lr 0.05", tiny_spec(optim={"lr": 0.05}), [0, 1])]
    finished(live, *runs)
    page.goto(f"/#/compare?ids={','.join(str(r['id']) for r in runs)}")
    page.wait_for_selector("#compare-chart[data-drawn]")
    at_once = page.evaluate("""() => ({
        rows: document.querySelectorAll('.interval-table tbody tr').length,
        intervals: [...document.querySelectorAll('.interval-table td.interval')].map((td) => td.textContent),
        lines: document.getElementById('compare-parallel-chart').dataset.lines,
        paths: document.querySelectorAll('#compare-parallel-chart .pc-line').length,
        interactive: document.getElementById('compare-parallel-interactive').childElementCount,
    })""")
    assert at_once["rows"] == 2 and all(re.fullmatch(r"\[-?[\d.]+, -?[\d.]+\]", i) for i in at_once["intervals"])
    assert (at_once["lines"], at_once["paths"], at_once["interactive"]) == ("2", 2, 0)
    titles = page.locator("#compare-parallel-chart .pc-line title").all_text_contents()
    assert sorted(title.split("\n")[0] for title in titles) == ["lr 0.05 (2 seeds)", "lr 0.1 (2 seeds)"]
    assert all("n = 2; mean " in title and "95% interval [" in title for title in titles)
    # Hovering a line (the middle of its path) dims the other one.
    page.locator("#compare-parallel-chart").scroll_into_view_if_needed()
    x, y = page.locator("#compare-parallel-chart .pc-line .pc-hit").first.evaluate("""el => {
        const p = el.getPointAtLength(el.getTotalLength() / 2), m = el.getScreenCTM();
        return [p.x * m.a + p.y * m.c + m.e, p.x * m.b + p.y * m.d + m.f]; }""")
    page.mouse.move(x, y)
    expect(page.locator("#compare-parallel-chart .pc-line .pc-stroke").last).to_have_css("opacity", "0.2")
    interactive = page.locator("#compare-parallel-interactive")
    expect(interactive).not_to_have_attribute("data-lines", re.compile("."))
    page.get_by_text("Interactive parallel coordinates").click()  # scrolls to it and opens it
    expect(interactive).to_have_attribute("data-lines", "2", timeout=20_000)
    assert interactive.evaluate("el => el.data[0].type") == "parcoords"
    assert "seeds (n)" in interactive.evaluate("el => el.data[0].dimensions.map((d) => d.label).join('|')")


def test_the_parallel_coordinates_draw_with_webgl_under_the_servers_content_security_policy(browser, live,
                                                                                           screenshots):
    """Plotly's parcoords compiles its drawing code with `Function`: a policy without 'unsafe-eval' leaves
    "WebGL is not supported" in its place. The suite's browser has no WebGL, so this one gets SwiftShader's."""
    runs = [*create_seeds(live, "wd 1e-4", tiny_spec(), [0, 1]),
            *create_seeds(live, "wd 5e-4", tiny_spec(optim={"weight_decay": 5e-4}), [0, 1])]
    finished(live, *runs)
    webgl = browser.browser_type.launch(executable_path=str(CHROMIUM), args=WEBGL_ARGS)  # the session's has none
    try:
        page = webgl.new_page(base_url=live.url, viewport=DESKTOP)
        watch = ConsoleWatch(page)
        assert page.evaluate("() => !!document.createElement('canvas').getContext('webgl')")
        page.goto(f"/#/compare?ids={','.join(str(r['id']) for r in runs)}")
        # A fresh browser: plotly.js (4.8 MB) fetched and parsed before the chart, then the panel; slow on busy cores.
        expect(page.locator("#compare-parallel-chart")).to_have_attribute("data-lines", "2", timeout=60_000)
        page.get_by_text("Interactive parallel coordinates").click()  # Plotly's, drawn when opened
        parallel = page.locator("#compare-parallel-interactive")
        expect(parallel).to_have_attribute("data-lines", "2", timeout=20_000)
        assert "seeds (n)" in parallel.evaluate("el => el.data[0].dimensions.map((d) => d.label).join('|')")
        expect(parallel).not_to_contain_text("WebGL is not supported")
        expect(parallel.locator("canvas").first).to_be_attached()
        parallel.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshots / "compare-parallel-webgl.png"))
        assert not watch.unexpected(), watch.unexpected()
    finally:
        webgl.close()


def finished_cell_runs(live, errors: list[float]) -> None:
    """Succeeded runs of the cell's full spec written straight to the live system's database (a full run
    trains for days), never queued, so no worker takes them."""
    [cell] = [c for c in table_specs(T1, "full") if c.key == CELL]
    engine = get_engine(Settings(home=live.home))
    with session_scope(engine) as session:
        for seed, error in enumerate(errors):
            [run] = store.create_runs(session, [cell.spec.model_copy(update={"seed": seed})])
            run.status, run.last_test_error, run.best_test_error = "succeeded", error, error
            run.epochs_done, run.finished_at = run.epochs, datetime.now(UTC).replace(tzinfo=None)


def test_a_table_cell_shows_its_verdict_and_reproduce_the_seeds_it_needs(page, live):
    finished_cell_runs(live, [2.80, 2.90, 2.95])
    page.goto(f"/#/tables/{T1}")
    verdict = page.locator(f"td[data-cell='{CELL}'] .cell-verdict")
    expect(verdict).to_contain_text("consistent with the paper")
    expect(verdict).to_have_attribute("title", re.compile(r"2\.86 lies inside our 95% interval .* n = 3"))
    # The difference with its interval: mean 2.883 - 2.86, and our interval [2.694, 3.073] less 2.86.
    expect(page.locator(f"td[data-cell='{CELL}'] .cell-difference")).to_have_text("Δ +0.02 [-0.17, 0.21]")
    page.get_by_role("button", name="Reproduce…").click()
    expect(page.locator(".seeds-planner .plan-sentence")).to_contain_text(
        re.compile(r"^to tell 0\.1 apart at σ [\d.]+ you need \d+ seeds a cell"))
    expect(page.locator(".seeds-planner .plan-sentence")).to_contain_text("GPU-hours")
    page.snap("table-verdict")
