"""New search from the launch form: a range beside the learning rate, the dry run's cost in the summary, a
422 beside the field it names; the search page fills in live as its runs train."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def fill_tiny_search(page) -> None:
    """A bottleneck PyramidNet-11 with ShakeDrop on synthetic data, 48 images held out: seconds on a CPU."""
    # The summary's dry run is asked while fields are half typed; Chromium logs the API's 422s itself.
    page.console_watch.allow(r"status of 422.*searches/dry-run")
    page.goto("/#/launch")
    page.get_by_role("link", name="New search").click()
    expect(page.get_by_role("heading", name="New search")).to_be_visible()
    page.get_by_label("Dataset", exact=True).select_option("synthetic")
    page.get_by_label("Train size", exact=True).fill("192")
    page.get_by_label("Test size", exact=True).fill("32")
    page.get_by_label("Validation images", exact=True).fill("48")
    page.get_by_label("Architecture", exact=True).select_option("pyramidnet")
    page.get_by_label("Depth", exact=True).fill("11")
    page.get_by_label("Alpha", exact=True).fill("8")
    page.get_by_label("Regularization", exact=True).select_option("shakedrop")
    page.get_by_label("Epochs", exact=True).fill("3")
    page.get_by_label("Batch size", exact=True).fill("32")


def test_a_search_created_from_the_form_shows_its_cost_and_its_page_fills_in(page, live):
    fill_tiny_search(page)
    page.get_by_label("Search Learning rate").check()
    page.get_by_label("Learning rate from").fill("0.01")
    page.get_by_label("to", exact=True).fill("0.5")
    page.get_by_label("Sampler", exact=True).select_option("random")
    page.get_by_label("Max runs", exact=True).fill("2")
    page.get_by_label("Max concurrent runs", exact=True).fill("2")
    expect(page.get_by_text("Largest cost:")).to_be_visible()
    expect(page.get_by_text(re.compile(r"2 proposals × 1 seed"))).to_be_visible()
    page.snap("search-form")
    page.get_by_role("button", name="Start search").click()
    page.wait_for_url(re.compile(r"#/searches/\d+$"))
    search_id = int(page.url.rsplit("/", 1)[1])
    search = live.get(f"/api/searches/{search_id}").json()
    assert search["space"] == {"optim.lr": {"float": [0.01, 0.5], "log": True}}
    assert search["sampler"] == "random" and search["spec"]["dataset"]["validation"] == 48

    proposals = page.get_by_role("region", name="Proposals")
    expect(proposals.locator("tbody tr")).to_have_count(2, timeout=60_000)
    # Live: the runs train, their curves appear, and the best proposal is named without a reload.
    expect(page.get_by_role("region", name="Best proposal")).to_contain_text("Proposal ", timeout=240_000)
    expect(page.locator("#search-chart-curves .main-svg").first).to_be_visible()
    expect(page.locator("#search-chart-objective .main-svg").first).to_be_visible()
    expect(page.get_by_role("region", name="Proposals")).to_contain_text("complete")
    page.snap("search-page")


def test_a_bad_range_shows_the_apis_message_beside_its_field_and_starts_nothing(page, live):
    before = len(live.get("/api/searches").json())
    fill_tiny_search(page)
    page.get_by_label("Search Learning rate").check()
    page.get_by_label("Learning rate from").fill("0.5")
    page.get_by_label("to", exact=True).fill("0.01")
    page.console_watch.allow(r"status of 422")
    page.get_by_role("button", name="Start search").click()
    expect(page.get_by_role("alert")).to_contain_text("reversed")
    expect(page.locator("#f-optim-lr-error")).to_contain_text("the range is reversed")
    assert len(live.get("/api/searches").json()) == before
