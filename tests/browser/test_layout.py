"""Every page in a narrow window (400 px): no horizontal scrolling, nothing logged to the console."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .runs import create_run, finished

NARROW = {"width": 400, "height": 820}


@pytest.fixture(scope="module")
def a_run(live):
    return finished(live, create_run(live, name="a run seen in a narrow window"))[0]


@pytest.mark.parametrize("name, path, ready", [
    ("runs", "/#/runs", "tbody tr"),
    ("run", "/#/runs/{id}", "#chart-error .main-svg"),
    ("launch", "/#/launch", "#f-model-depth"),
    ("compare", "/#/compare?ids={id}", "#compare-chart .main-svg"),
    ("compare-picker", "/#/compare", "input[type=checkbox]"),
    ("tables", "/#/tables", ".table-card"),
    ("table", "/#/tables/shake_shake_table1_cifar10", ".paper-table"),
])
def test_narrow_window_has_no_horizontal_overflow(page, a_run, name, path, ready):
    page.set_viewport_size(NARROW)
    page.goto(path.format(id=a_run["id"]))
    expect(page.locator(ready).first).to_be_visible(timeout=20_000)  # Plotly (4.8 MB) on a busy machine
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    page.snap(f"narrow-{name}")
    assert overflow <= 0, f"{name}: {overflow}px wider than the window"


def test_empty_launch_link_and_health(page):
    page.goto("/#/runs")
    expect(page.locator("#health")).to_have_text("Connected")
    expect(page.locator("#workers")).to_have_text("1 worker", timeout=15_000)
    page.goto("/#/nowhere")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()


@pytest.mark.parametrize("width", [720, 900, 1095])  # the band where the list once overflowed
def test_runs_list_fits_a_window_between_phone_and_desktop(page, a_run, width):
    """Between phone and desktop widths the table folds two columns rather than scrolling sideways."""
    page.set_viewport_size({"width": width, "height": 820})
    page.goto("/#/runs")
    expect(page.locator("tbody tr").first).to_be_visible()
    assert page.evaluate("() => document.scrollingElement.scrollWidth <= innerWidth")
    assert page.locator(".table-scroll").evaluate("e => e.scrollWidth <= e.clientWidth")  # no scrolling inside either
    box = page.get_by_role("button", name=f"Re-run run {a_run['id']} with a new seed").bounding_box()
    assert box["x"] + box["width"] <= width
    page.snap(f"runs-{width}")


def test_chart_toolbar_leaves_the_legend_clear(page, a_run):
    """Plotly's toolbar sits at the top right of a chart; the run page's legends keep out of its way."""
    page.goto(f"/#/runs/{a_run['id']}")
    chart = page.locator("#chart-loss")
    expect(chart.locator(".main-svg").first).to_be_visible(timeout=20_000)
    chart.hover()
    expect(chart.locator(".modebar").first).to_be_visible()
    legend, toolbar = chart.locator("g.legend").first.bounding_box(), chart.locator(".modebar").first.bounding_box()
    apart = (legend["x"] + legend["width"] <= toolbar["x"] or toolbar["x"] + toolbar["width"] <= legend["x"]
             or legend["y"] + legend["height"] <= toolbar["y"] or toolbar["y"] + toolbar["height"] <= legend["y"])
    assert apart, f"legend {legend} under the toolbar {toolbar}"
