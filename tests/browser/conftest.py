"""Browser tests: headless Chromium (Debian's, never a downloaded one) driven by Playwright against a real
API and worker (tests/live.py: SQLite and the embedded broker under a temporary directory).

One system and one browser serve the whole session; every test gets a fresh page whose console errors and
uncaught exceptions fail the test. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.live import ROOT, LiveSystem

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}


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


class ConsoleWatch:
    """Console errors and uncaught exceptions of one page. `allow(pattern)` excuses an expected one, e.g.
    Chromium's "Failed to load resource: ... status of 422" when a test sends a bad spec on purpose."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.allowed: list[re.Pattern] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text} ({m.location})"))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


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
