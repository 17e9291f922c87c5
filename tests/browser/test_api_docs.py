"""The API docs (/docs: Swagger UI, /redoc: ReDoc) render in Chromium with every non-loopback request
blocked, as on a machine without internet, and under a Content-Security-Policy that allows only the
server's own script files (no inline script)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.live import LiveSystem

from .chromium import DESKTOP, ConsoleWatch

# Enforced beside whatever policy the server sends, so the pages are held to "no inline script" either way.
SCRIPT_FILES_ONLY = "script-src 'self'; worker-src 'self' blob:"
# Both UIs parse the whole OpenAPI document in the page: seconds on a busy 2-core machine.
RENDERED_MS = 30_000


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with LiveSystem(tmp_path_factory.mktemp("api-docs")) as system:  # no worker: the docs need none
        yield system


@pytest.fixture
def offline_page(browser, api, screenshots):
    """A page whose requests to any host but the server's are aborted (and recorded), and whose documents
    carry SCRIPT_FILES_ONLY; console errors fail the test."""
    server = urlsplit(api.url).netloc
    blocked: list[str] = []

    def only_the_server(route):
        request = route.request
        if urlsplit(request.url).netloc != server:
            blocked.append(request.url)
            return route.abort("internetdisconnected")
        if request.resource_type != "document":
            return route.continue_()
        response = route.fetch()
        headers = dict(response.headers)
        policies = [p for p in (headers.get("content-security-policy"), SCRIPT_FILES_ONLY) if p]
        route.fulfill(response=response, headers={**headers, "content-security-policy": ", ".join(policies)})

    context = browser.new_context(base_url=api.url, viewport=DESKTOP)
    context.route("**/*", only_the_server)
    page = context.new_page()
    page.console_watch = ConsoleWatch(page)
    page.snap = lambda name: page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
    yield page
    errors = page.console_watch.unexpected()
    context.close()
    assert not blocked, f"the page reached beyond the server: {blocked}"
    assert not errors, "the page logged errors:\n" + "\n".join(errors)


def test_swagger_ui_lists_the_operations_offline(offline_page):
    page = offline_page
    page.goto("/docs")
    create_run = page.locator('.opblock-post .opblock-summary-path[data-path="/api/runs"]')
    expect(create_run).to_be_visible(timeout=RENDERED_MS)
    expect(page.locator(".opblock-get .opblock-summary-path[data-path='/api/runs/{run_id}']")).to_be_visible()
    page.snap("api-docs-swagger")


def test_redoc_renders_the_operations_offline(offline_page):
    page = offline_page
    page.goto("/redoc")
    expect(page.get_by_role("heading", name="Queue one run of a spec")).to_be_visible(timeout=RENDERED_MS)
    expect(page.get_by_role("heading", name="ShakeLab", exact=False).first).to_be_visible()
    page.snap("api-docs-redoc")
