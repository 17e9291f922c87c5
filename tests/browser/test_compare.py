"""Compare: runs picked on the list overlaid, seeds grouped into a band, the differing spec fields, CSV."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from .runs import create_run, create_seeds, finished, tiny_spec


@pytest.fixture(scope="module")
def two_runs(live):
    """Two finished runs that differ in regularization.p_last."""
    runs = [create_run(live, tiny_spec(regularization={"method": "shakedrop", "p_last": p}), name=f"p_L {p}")
            for p in (0.5, 0.8)]
    return finished(live, *runs)


def line_traces(page) -> list[dict]:
    page.wait_for_selector("#compare-chart[data-drawn]")
    return page.evaluate("""() => document.getElementById('compare-chart').data
        .filter(t => t.mode && t.mode.startsWith('lines') && !t.fill && t.hoverinfo !== 'skip')
        .map(t => ({name: t.name, points: t.x.length}))""")


def test_compare_two_runs_picked_on_the_list(page, two_runs):
    page.goto("/#/runs")
    for run in two_runs:
        page.get_by_role("checkbox", name=re.compile(rf"^Select run {run['id']} ")).check()
    page.get_by_role("button", name="Compare selected (2)").click()
    page.wait_for_url(re.compile(r"#/compare\?ids="))
    expect(page.locator(".compare-table tbody tr")).to_have_count(2)
    traces = line_traces(page)
    assert sorted(t["name"] for t in traces) == sorted(f"#{r['id']} {r['name']}" for r in two_runs)
    assert all(t["points"] == 3 for t in traces)
    expect(page.get_by_role("columnheader", name="regularization.p_last")).to_be_visible()  # the differing field
    page.snap("compare-two-runs")


def test_csv_export_holds_both_runs(page, two_runs):
    ids = [r["id"] for r in two_runs]
    page.goto(f"/#/compare?ids={ids[0]},{ids[1]}")
    expect(page.locator(".compare-table tbody tr")).to_have_count(2)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert {int(r["run_id"]) for r in rows} == set(ids)
    assert len(rows) == 6 and {"epoch", "test_error", "train_error", "wall_seconds"} <= set(rows[0])
    with page.expect_download() as png:
        page.get_by_role("button", name="Download PNG").click()
    assert png.value.suggested_filename.endswith(".png")


def test_seeds_grouped_into_a_mean_with_a_band(page, live):
    seeds = finished(live, *create_seeds(live, "band of seeds", tiny_spec(), [0, 1, 2]))
    page.goto(f"/#/compare?ids={','.join(str(r['id']) for r in seeds)}")
    expect(page.locator(".compare-table tbody tr")).to_have_count(1)
    page.wait_for_selector("#compare-chart[data-drawn]")
    bands = page.evaluate("() => document.getElementById('compare-chart').data.filter(t => t.fill === 'tonexty')")
    assert len(bands) == 1
    page.get_by_role("button", name="±1 std").click()
    page.get_by_label("Log scale").check()
    page.get_by_role("button", name="Training time").click()
    layout = page.evaluate("() => document.getElementById('compare-chart').layout")
    assert layout["yaxis"]["type"] == "log" and layout["xaxis"]["title"]["text"].startswith("training time")
    page.get_by_label("Smoothing").fill("0.6")  # smoothed line on top of the faint raw one
    expect(page.get_by_text("the faint lines under them are the raw values")).to_be_visible()
    page.get_by_label("Group seeds").uncheck()
    expect(page.locator(".compare-table tbody tr")).to_have_count(3)
    page.snap("compare-seeds")
