"""Servers of their own: an empty one that wants an API key (empty states; the key asked for once, kept,
and the launch retried), and one whose database is down (the API's 503 said plainly)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.live import LiveSystem

from .chromium import DESKTOP, ConsoleWatch

KEY = "browser-test-key"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    with LiveSystem(tmp_path_factory.mktemp("guarded"), api_key=KEY) as system:
        yield system


@pytest.fixture(scope="module")
def no_database(tmp_path_factory):
    # Nothing listens on port 9: every query fails to connect and the API answers 503.
    url = "postgresql+psycopg://shakelab@127.0.0.1:9/none"
    with LiveSystem(tmp_path_factory.mktemp("no-db"), database_url=url) as system:
        yield system


@pytest.fixture
def open_page(browser, screenshots):
    """open_page(system, *allowed console patterns) -> a page on that system; console errors fail the test."""
    contexts = []

    def open_on(system: LiveSystem, *allowed: str):
        context = browser.new_context(base_url=system.url, viewport=DESKTOP)
        contexts.append(context)
        page = context.new_page()
        page.console_watch = ConsoleWatch(page)
        for pattern in allowed:
            page.console_watch.allow(pattern)
        page.snap = lambda name: page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
        return page

    yield open_on
    errors = [e for c in contexts for p in c.pages for e in p.console_watch.unexpected()]
    for context in contexts:
        context.close()
    assert not errors, errors


def test_empty_server_invites_a_first_launch(open_page, guarded):
    page = open_page(guarded)
    page.goto("/#/runs")
    expect(page.get_by_text("No runs yet — launch one.")).to_be_visible()
    expect(page.locator("#workers")).to_have_text("No worker running")  # this server has none
    expect(page.get_by_role("link", name="Launch a run").last).to_have_attribute("href", "#/launch")
    page.snap("runs-empty")
    page.goto("/#/compare")
    expect(page.get_by_text("Choose runs to compare")).to_be_visible()
    expect(page.get_by_text("No runs yet")).to_be_visible()


def test_launch_asks_for_the_api_key_once_and_retries(open_page, guarded):
    page = open_page(guarded, r"status of 401")
    page.goto("/#/launch")
    page.get_by_label("Preset").select_option("demo_digits")
    page.get_by_role("button", name="Launch", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("API key")
    page.get_by_label("API key", exact=True).fill(KEY)
    page.snap("api-key")
    page.get_by_role("button", name="Save and retry").click()
    page.wait_for_url(re.compile(r"#/runs/\d+$"))
    assert page.evaluate("() => localStorage.getItem('shakelab.apiKey')") == KEY
    assert guarded.run(int(page.url.rsplit("/", 1)[1]))["dataset"] == "digits"


def test_database_outage_is_said_plainly(open_page, no_database):
    page = open_page(no_database, r"status of 503")
    page.goto("/#/runs")
    expect(page.get_by_text("The runs could not be loaded")).to_be_visible()
    expect(page.get_by_text("the database is unavailable right now")).to_be_visible()
    expect(page.locator("#health")).to_have_text("Database down")
    page.snap("database-down")
