"""Compare: runs picked on the list overlaid, seeds grouped into a band, the differing spec fields, CSV."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import parse_qs, urlsplit

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
    # The field that differs: named in full above the table, with each run's value in its row.
    expect(page.locator("code", has_text="regularization.p_last")).to_be_visible()
    expect(page.locator(".compare-table td.diff-values")).to_have_text(["p_last 0.5", "p_last 0.8"])
    page.snap("compare-two-runs")


def test_csv_export_holds_both_runs(page, two_runs):
    ids = [r["id"] for r in two_runs]
    asked = []
    page.on("request", lambda r: asked.append(parse_qs(urlsplit(r.url).query).get("columns"))
            if urlsplit(r.url).path == "/api/compare" else None)
    page.goto(f"/#/compare?ids={ids[0]},{ids[1]}")
    expect(page.locator(".compare-table tbody tr")).to_have_count(2)
    # the page asks for the columns it draws; the CSV for every one
    assert asked == [["test_error", "val_error", "wall_seconds"]]
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    assert asked[-1] is None
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert {int(r["run_id"]) for r in rows} == set(ids)
    assert len(rows) == 6 and {"epoch", "test_error", "train_error", "wall_seconds"} <= set(rows[0])
    assert all(float(r["train_loss"]) > 0 and float(r["lr"]) > 0 for r in rows)
    # another metric is fetched when chosen, and drawn
    page.get_by_label("Metric").select_option("train_loss")
    page.wait_for_function("() => { const c = document.getElementById('compare-chart');"
                           " return c.layout?.uirevision?.startsWith('train_loss|')"
                           " && c.data.filter(t => t.y?.length).every(t => t.y.every(v => typeof v === 'number')); }")
    assert asked[-1] == ["train_loss", "test_error", "val_error", "wall_seconds"]
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


def test_a_seed_group_counts_only_finished_runs_with_distinct_seeds(page, live):
    """A finished run, a re-run of its seed, one cancelled during training and one before it started."""
    [done] = finished(live, create_run(live, tiny_spec(), name="counted"))
    [again] = finished(live, create_run(live, tiny_spec(), name="same seed again"))
    stopped = create_run(live, tiny_spec(optim={"epochs": 400}), name="cancelled while training")
    live.wait_until(lambda: live.run(stopped["id"])["epochs_done"] >= 1, 60, "an epoch of the run to cancel")
    live.post(f"/api/runs/{stopped['id']}/cancel")
    never = create_run(live, tiny_spec(optim={"epochs": 400}), name="cancelled before starting")
    live.post(f"/api/runs/{never['id']}/cancel")
    # The two cancelled runs share a spec (400 epochs) that is not the finished runs' (3 epochs): same seed,
    # different spec. Compare all four: two groups, each counting only what finished, each seed once.
    live.wait_for_status(stopped["id"], "cancelled", timeout=60)
    ids = [done["id"], again["id"], stopped["id"], never["id"]]
    page.goto(f"/#/compare?ids={','.join(map(str, ids))}")
    rows = page.locator(".compare-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("2 runs, 1 counted: 1 duplicate seed")
    expect(rows.nth(0)).to_contain_text(f"#{done['id']} (seed 0 again, #{again['id']} counted)")  # the latest
    expect(rows.nth(1)).to_contain_text("2 runs, 0 counted: 2 not finished")
    expect(rows.nth(1).locator("td").nth(1)).to_have_text("—")  # no statistics over unfinished runs
    page.wait_for_selector("#compare-chart[data-drawn]")
    means = page.evaluate("""() => document.getElementById('compare-chart').data
        .filter(t => t.customdata).map(t => ({name: t.name, y: t.y, n: t.customdata}))""")
    [mean] = means  # the cancelled group has no mean line, only its faint members
    assert mean["name"].endswith("(1 of 2 runs counted)") and set(mean["n"]) == {1}
    counted = live.get(f"/api/runs/{again['id']}/metrics").json()["test_error"]
    assert mean["y"] == pytest.approx(counted)
    page.snap("compare-counted-seeds")


def test_results_come_before_the_differing_fields_at_1280px(page, live):
    """Five regularization fields differ; the error columns still start inside a 1280 px window, and each
    series names only the fields it has a value for."""
    shakedrop = tiny_spec(regularization={"method": "shakedrop", "p_last": 0.5, "alpha_range": [-1, 1],
                                          "beta_range": [0, 1], "level": "image"})
    other = tiny_spec(regularization={"method": "shakedrop", "p_last": 0.8, "alpha_range": [0, 0],
                                      "beta_range": [0, 0], "level": "batch", "gate_level": "batch"})
    plain = tiny_spec(regularization={"method": "none"})
    runs = [r for spec in (shakedrop, other, plain) for r in create_seeds(live, "layout", spec, [0, 1])]
    page.goto(f"/#/compare?ids={','.join(str(r['id']) for r in runs)}")
    expect(page.locator(".compare-table tbody tr")).to_have_count(3)
    # A locator, not an element handle: the table is redrawn as its runs train, and a handle can go stale.
    differing = page.locator("p.muted", has_text="Spec fields that differ")
    for field in ("p_last", "alpha_range", "beta_range", "level", "gate_level"):
        expect(differing.locator("code", has_text=re.compile(rf"^regularization\.{field}$"))).to_have_count(1)
    width = page.evaluate("() => innerWidth")
    for header in ("Last test error", "Best epoch (chosen on the test set)"):
        box = page.get_by_role("columnheader", name=header).bounding_box()
        assert box["x"] + box["width"] <= width, f"{header} ends at {box['x'] + box['width']} px"
    labels = page.locator(".compare-table tbody .run-name").all_inner_texts()
    plain, first, second = (next(label for label in labels if key in label)
                            for key in ("None", "p_last 0.5", "p_last 0.8"))
    assert plain.startswith("None (") and "p_last" not in plain and "alpha_range" not in plain
    assert "gate_level" not in first  # at none in this setting: left out of its name
    assert "gate_level batch" in second and "level batch" in second
    assert page.evaluate("() => document.scrollingElement.scrollWidth <= innerWidth")
    page.snap("compare-1280-results-first")
    for run in runs:  # their training is not the point: leave the worker to the other tests
        live.post(f"/api/runs/{run['id']}/cancel")


def test_an_unknown_id_leaves_the_others_shown(page, two_runs):
    page.console_watch.allow(r"status of 404")  # the first answer, before the page finds which id is unknown
    page.goto(f"/#/compare?ids={two_runs[0]['id']},987654")
    expect(page.get_by_text("Run #987654 was not found; showing the other 1.")).to_be_visible()
    expect(page.locator(".compare-table tbody tr")).to_have_count(1)


def test_runs_without_epochs_show_a_state_not_empty_axes(page, live):
    run = create_run(live, tiny_spec(optim={"epochs": 400}), name="never trained")
    live.post(f"/api/runs/{run['id']}/cancel")
    page.goto(f"/#/compare?ids={run['id']}")
    expect(page.get_by_text("These runs recorded no epochs.")).to_be_visible()
    expect(page.locator("#compare-chart")).to_be_hidden()
    expect(page.locator(".compare-table tbody tr")).to_have_count(1)


def test_a_groups_curve_is_thinned_keeping_its_band_extremes_first_and_last_epoch(page, live):
    """series.js thinGroup: the union of five thinned seeds, cut to the points per run asked for."""
    page.goto(f"{live.url}/#/runs")
    kept = page.evaluate("""async () => {
        const { thinGroup } = await import('/js/series.js');
        const n = 1800;
        const group = { epoch: [], wall: [], mean: [], min: [], max: [], std: [], n: [] };
        for (let i = 0; i < n; i += 1) {
            const base = 60 * Math.exp(-i / 300) + Math.sin(i);
            group.epoch.push(i + 1); group.wall.push(30 * (i + 1)); group.std.push(1); group.n.push(5);
            group.mean.push(i === 1500 ? 0.5 : base);
            group.min.push(i === 700 ? -5 : base - 1);
            group.max.push(i === 900 ? 99 : base + 1);
        }
        const thin = thinGroup(group, 500);
        const same = thinGroup(group, 5000);
        return { length: thin.epoch.length, epochs: thin.epoch, lengths: Object.values(thin).map((v) => v.length),
                 untouched: same === group, meanAt1501: thin.mean[thin.epoch.indexOf(1501)] };
    }""")
    assert kept["length"] <= 500 and set(kept["lengths"]) == {kept["length"]}
    assert {1, 1800, 1501, 701, 901} <= set(kept["epochs"])  # first, last, best mean, lowest low, highest high
    assert kept["epochs"] == sorted(kept["epochs"]) and kept["meanAt1501"] == 0.5
    assert kept["untouched"]  # fewer epochs than asked for: the curve as it is


@pytest.mark.parametrize("curves", [12, 41])
def test_curves_keep_their_dashes_up_to_forty_then_are_drawn_thin_and_solid(page, live, two_runs, curves):
    """10 colours x 4 dashes tell 40 curves apart; past that no style is a curve's own, and 1 px solid lines are
    what Chromium rasterises fast (200 curves of 1.8 px dashes took a second to draw). The answer is the two runs'
    real one, copied as `curves` runs that differ in p_last."""
    real = live.get(f"/api/compare?ids={two_runs[0]['id']}").json()
    run, metrics, group = real["runs"][0], real["metrics"][0], real["groups"][0]
    ids = list(range(900_001, 900_001 + curves))
    answer = {"runs": [], "metrics": [], "groups": []}
    for k, run_id in enumerate(ids):
        spec = {**run["spec"], "regularization": {**run["spec"]["regularization"], "p_last": round(0.3 + k / 100, 2)}}
        answer["runs"].append({**run, "id": run_id, "name": f"copy {k}", "spec": spec, "spec_key": f"copy-{k}"})
        answer["metrics"].append({**metrics, "run_id": run_id})
        answer["groups"].append({**group, "spec_key": f"copy-{k}", "run_ids": [run_id], "counted_run_ids": [run_id]})
    page.route(re.compile(r".*/api/compare\?.*"), lambda route: route.fulfill(json=answer))
    page.goto(f"/#/compare?ids={','.join(map(str, ids))}&group=0")
    page.wait_for_selector("#compare-chart[data-drawn]")
    styles = page.evaluate("""() => document.getElementById('compare-chart').data
        .filter(t => t.mode && t.mode.startsWith('lines')).map(t => [t.line.width, t.line.dash])""")
    assert len(styles) == curves
    if curves <= 40:
        assert {width for width, _ in styles} == {1.8}
        assert [dash for _, dash in styles] == ["solid"] * 10 + ["dash"] * 2
    else:
        assert set(map(tuple, styles)) == {(1, "solid")}
