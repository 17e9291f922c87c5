"""A server with SHAKELAB_API_KEY: the first launch is refused (401), the page asks for the key once,
keeps it, and the launch goes through."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.live import LiveSystem

from .conftest import DESKTOP, ConsoleWatch

KEY = "browser-test-key"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    with LiveSystem(tmp_path_factory.mktemp("guarded"), api_key=KEY) as system:
        yield system


def test_launch_asks_for_the_api_key_once_and_retries(browser, guarded, screenshots):
    context = browser.new_context(base_url=guarded.url, viewport=DESKTOP)
    page = context.new_page()
    console = ConsoleWatch(page)
    console.allow(r"status of 401")
    page.goto("/#/launch")
    page.get_by_label("Preset").select_option("demo_digits")
    page.get_by_role("button", name="Launch", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("API key")
    page.get_by_label("API key", exact=True).fill(KEY)
    page.screenshot(path=str(screenshots / "api-key.png"))
    page.get_by_role("button", name="Save and retry").click()
    page.wait_for_url(re.compile(r"#/runs/\d+$"))
    assert page.evaluate("() => localStorage.getItem('shakelab.apiKey')") == KEY
    run_id = int(page.url.rsplit("/", 1)[1])
    assert guarded.run(run_id)["dataset"] == "digits"
    errors = console.unexpected()
    context.close()
    assert not errors, errors
