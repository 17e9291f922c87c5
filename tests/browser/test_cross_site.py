"""In Chromium, as an attacker would: a page of another origin (another loopback address) tries to cancel a
training run, create a run with a text/plain body and reproduce a table. Each is refused with 403 and
changes nothing, while the dashboard itself still cancels. And a server that protects its reads asks
for the key once."""

from __future__ import annotations

import http.server
import json
import re
import socket
import threading

import pytest
from playwright.sync_api import expect

from tests.live import LiveSystem

from .chromium import DESKTOP, ConsoleWatch
from .runs import create_run, tiny_spec

KEY = "read-key"
ATTACKER_HOST = "127.0.0.2"  # another origin than the dashboard's 127.0.0.1, as any web site would be

ATTACK_PAGE = """<!doctype html><title>cat pictures</title>
<form id="form" method="post" enctype="text/plain" target="sink" action="{api}/runs/{run_id}/cancel">
  <input name='{{"x":"' value='"}}'></form>
<iframe name="sink"></iframe>
<script>
const api = "{api}";
const spec = {spec};
window.attack = Promise.allSettled([
  fetch(api + "/runs/{run_id}/cancel", {{method: "POST", mode: "no-cors"}}),
  fetch(api + "/runs", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
                         body: JSON.stringify({{spec}})}}),
  fetch(api + "/tables/{table_id}/reproduce", {{method: "POST", mode: "no-cors",
                                                headers: {{"Content-Type": "text/plain"}},
                                                body: JSON.stringify({{profile: "smoke"}})}}),
]).then(() => document.getElementById("form").submit()).then(() => "sent");
</script>"""


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    with LiveSystem(tmp_path_factory.mktemp("target")) as system:
        system.start_worker()
        yield system


def serve_on(host: str, html: str):
    """A one-page web site of the test's own on `host`, in a thread; returns (server, url)."""
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    server = http.server.ThreadingHTTPServer((host, port), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{port}/"


def test_another_origin_can_neither_cancel_nor_create_nor_reproduce(browser, target, screenshots):
    run = create_run(target, tiny_spec(optim={"epochs": 2000}))  # trains for minutes: long enough to attack
    target.wait_for_status(run["id"], "running", timeout=60)
    table_id = target.get("/api/tables").json()[0]["id"]
    runs_before = target.get("/api/runs").json()["total"]
    page_html = ATTACK_PAGE.format(api=f"{target.url}/api", run_id=run["id"], table_id=table_id,
                                   spec=json.dumps(tiny_spec()))
    server, attacker_url = serve_on(ATTACKER_HOST, page_html)
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        api_log = target.logs / "api.log"
        log_start = api_log.stat().st_size
        page.goto(attacker_url)
        assert page.evaluate("() => window.attack") == "sent"
        page.wait_for_timeout(500)  # the form's navigation inside the frame
        page.screenshot(path=str(screenshots / "cross-site-attack.png"))
    finally:
        context.close()
        server.shutdown()
    # The browser hides no-cors answers from the page (and from Playwright): the server's access log says.
    answers = re.findall(r'"(POST \S+) HTTP/1.1" (\d+)', api_log.read_bytes()[log_start:].decode())
    assert sorted(answers) == sorted([(f"POST /api/runs/{run['id']}/cancel", "403"), ("POST /api/runs", "403"),
                                      (f"POST /api/tables/{table_id}/reproduce", "403"),
                                      (f"POST /api/runs/{run['id']}/cancel", "403")]), answers  # the last: the form
    after = target.run(run["id"])
    assert (after["status"], after["cancel_requested"]) == ("running", False)
    assert target.get("/api/runs").json()["total"] == runs_before

    # The dashboard's own Cancel still works: the guard refuses other origins, not the researcher.
    own = browser.new_context(base_url=target.url, viewport=DESKTOP)
    try:
        page = own.new_page()
        watch = ConsoleWatch(page)
        page.goto(f"/#/runs/{run['id']}")
        cancel = page.get_by_role("button", name=f"Cancel run {run['id']}")
        cancel.click()
        cancel.click()  # "Really cancel?"
        target.wait_for_status(run["id"], "cancelled", timeout=60)
        assert not watch.unexpected(), watch.unexpected()
    finally:
        own.close()


@pytest.fixture(scope="module")
def read_protected(tmp_path_factory):
    with LiveSystem(tmp_path_factory.mktemp("read-protected"), api_key=KEY,
                    env={"SHAKELAB_PROTECT_READS": "true"}) as system:
        yield system


def test_protected_reads_make_the_dashboard_ask_for_the_key_once(browser, read_protected, screenshots):
    created = read_protected.post("/api/runs", json={"spec": tiny_spec(), "name": "protected run"},
                                  headers={"Authorization": f"Bearer {KEY}"})
    assert created.status_code == 201, created.text
    assert read_protected.get("/api/runs").status_code == 401
    context = browser.new_context(base_url=read_protected.url, viewport=DESKTOP)
    try:
        page = context.new_page()
        watch = ConsoleWatch(page)
        watch.allow(r"status of 401")
        page.goto("/#/runs")
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("only with its API key")
        page.get_by_label("API key", exact=True).fill(KEY)
        page.screenshot(path=str(screenshots / "read-key.png"))
        page.get_by_role("button", name="Save and retry").click()
        expect(page.get_by_text("protected run")).to_be_visible()
        page.wait_for_timeout(3000)  # a few polls later, nothing asks again
        expect(page.get_by_role("dialog")).to_be_hidden()
        page.goto("/#/tables")  # another page, other reads: the saved key serves them all
        expect(page.get_by_role("heading", name="The papers' tables")).to_be_visible()
        expect(page.get_by_role("dialog")).to_be_hidden()
        # A table's export is a read too: the file comes with the key, not a 401 saved as CSV.
        page.goto("/#/tables/shake_shake_table1_cifar10")
        with page.expect_download() as download:
            page.get_by_role("link", name="CSV", exact=True).click()
        assert download.value.suggested_filename == "shake_shake_table1_cifar10-full.csv"
        exported = open(download.value.path(), encoding="utf-8").read()
        assert exported.startswith("table,") and "s-s-i:2x96d" in exported, exported[:300]
        expect(page.get_by_role("dialog")).to_be_hidden()
        assert not watch.unexpected(), watch.unexpected()
    finally:
        context.close()
