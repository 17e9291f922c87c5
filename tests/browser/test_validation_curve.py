"""The run page draws the validation curves between train and test for a run with a validation split, live,
and none for a run without one."""

from __future__ import annotations

from .runs import create_run, finished, tiny_spec

TRACE_NAMES = "(id) => (document.getElementById(id)?.data || []).map((t) => t.name)"
POINTS = "([id, name]) => (document.getElementById(id)?.data || []).find((t) => t.name === name)?.y?.length || 0"


def test_a_run_with_a_split_shows_its_validation_curves_as_they_grow(page, live):
    spec = tiny_spec(dataset={"validation": 16})  # 64 synthetic images: 48 trained on, 16 held out
    run = create_run(live, spec)
    page.goto(f"/#/runs/{run['id']}")
    finished(live, run)
    page.wait_for_function(POINTS, arg=["chart-error", "validation"])
    page.wait_for_function(f"() => ({POINTS})(['chart-error', 'validation']) === 3")
    assert page.evaluate(TRACE_NAMES, "chart-error")[:3] == ["train", "validation", "test"]
    assert page.evaluate(TRACE_NAMES, "chart-loss") == ["train", "validation", "test"]
    assert page.evaluate(POINTS, ["chart-loss", "validation"]) == 3
    errors = live.get(f"/api/runs/{run['id']}/metrics").json()["val_error"]
    shown = page.evaluate("() => document.getElementById('chart-error').data[1].y")
    assert shown == errors
    page.get_by_text("Last validation error").wait_for()


def test_a_run_without_a_split_shows_no_validation_curve(page, live):
    [run] = finished(live, create_run(live))
    page.goto(f"/#/runs/{run['id']}")
    page.wait_for_function(f"() => ({POINTS})(['chart-error', 'test']) === 3")
    assert "validation" not in page.evaluate(TRACE_NAMES, "chart-error")
    assert page.evaluate(TRACE_NAMES, "chart-loss") == ["train", "test"]
    assert page.get_by_text("Last validation error").count() == 0
