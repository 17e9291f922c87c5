"""Browser tests: headless Chromium (Debian's, never a downloaded one) driven by Playwright against a real
API and worker (tests/live.py: SQLite and the embedded broker under a temporary directory).

One system and one browser serve the whole session; every test gets a fresh page whose console errors and
uncaught exceptions fail the test. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import expect

from tests.live import ROOT, LiveSystem

from .chromium import CHROMIUM, CHROMIUM_ARGS, DESKTOP, ConsoleWatch

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"

# The whole suite keeps both cores busy (live APIs, workers training): 5 s, Playwright's default for
# `expect`, is too short for a page that waits on a training run's next poll.
expect.set_options(timeout=15_000)


def pytest_collection_modifyitems(items):
    # One xdist worker runs them all (make test: --dist loadgroup), so they share one system and browser.
    for item in items:
        if "tests/browser/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.xdist_group("browser"))


def pytest_terminal_summary(terminalreporter):
    if SCREENSHOTS.is_dir() and any(SCREENSHOTS.glob("*.png")):
        terminalreporter.write_line(f"browser screenshots: {SCREENSHOTS}")


@pytest.fixture(scope="session")
def live(tmp_path_factory):
    """The API and a worker that trains two runs at once (2 cores)."""
    with LiveSystem(tmp_path_factory.mktemp("live")) as system:
        system.start_worker("--runs-per-gpu", "2")
        yield system


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `bash scripts/system-deps.sh` (installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots():
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


@pytest.fixture
def page(browser, live, screenshots, request):
    """A fresh page on the live system, 1280x900; fails the test on any console error it did not allow."""
    context = browser.new_context(base_url=live.url, viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.console_watch = ConsoleWatch(page)
    page.snap = lambda name: page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
    yield page
    errors = page.console_watch.unexpected()
    context.close()
    assert not errors, "the page logged errors:\n" + "\n".join(errors)
