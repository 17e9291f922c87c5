"""Other web sites cannot change anything: cross-site state changes get 403 (every route, present and future),
a foreign Host gets 400 (DNS rebinding), every answer carries the security headers, and reads can be
protected by the key. The browser's side of the same story is tests/browser/test_cross_site.py."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from starlette.datastructures import Headers

from backend.api import create_app
from backend.api.security import cross_site_reason
from tests.live import TINY_SPEC

from .conftest import Platform, make_settings

SPEC = {"spec": TINY_SPEC}
FOREIGN = {"Origin": "http://127.0.0.2:18999", "Sec-Fetch-Site": "cross-site"}


def state_changing_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every documented route that changes state, ids set to 1: new routes join by themselves."""
    return sorted((method.upper(), re.sub(r"\{[^}]+\}", "1", path))
                  for path, operations in app.openapi()["paths"].items()
                  for method in operations if method.upper() not in ("GET", "HEAD", "OPTIONS"))


@pytest.mark.parametrize(("headers", "allowed"), [
    ({}, True),                                                          # curl, scripts, the Python client
    ({"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost:8000"}, True),   # the dashboard
    ({"Sec-Fetch-Site": "none"}, True),                                  # typed in the address bar
    ({"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, False),
    ({"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:9999"}, False),     # another port
    ({"Origin": "http://localhost:8000"}, True),                         # an older browser, same origin
    ({"Origin": "http://evil.example"}, False),                          # an older browser, another origin
    ({"Origin": "null"}, False),                                         # a sandboxed frame or a data: page
    ({"Sec-Fetch-Site": "cross-site", "Origin": "https://lab.example"}, True),      # trusted by the server
])
def test_cross_site_reason_judges_by_fetch_metadata_then_origin(headers, allowed):
    request_headers = Headers({"host": "localhost:8000", **headers})
    reason = cross_site_reason(request_headers, frozenset({"https://lab.example"}))
    assert (reason is None) is allowed, reason


@pytest.fixture
def sqlite_platform(request, tmp_path):
    settings = make_settings("sqlite", tmp_path, request)
    with TestClient(create_app(settings, dispatch=False), base_url="http://localhost") as client:
        from backend.db import get_engine
        yield Platform(settings, client, get_engine(settings))


def test_every_state_changing_route_refuses_another_origin_and_changes_nothing(platform):
    queued = platform.client.post("/api/runs", json=SPEC).json()
    routes = state_changing_routes(platform.client.app)
    assert ("POST", "/api/runs/1/cancel") in routes and ("POST", "/api/runs") in routes
    before = platform.counts()
    for method, path in routes:
        r = platform.client.request(method, path.replace("/1/", f"/{queued['id']}/"), json=SPEC, headers=FOREIGN)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert "Cross-site request refused" in r.json()["detail"]
    assert platform.counts() == before
    assert platform.client.get(f"/api/runs/{queued['id']}").json()["status"] == "queued"


def test_a_bodyless_cross_site_cancel_is_refused_and_the_dashboards_own_goes_through(sqlite_platform):
    client = sqlite_platform.client
    run = client.post("/api/runs", json=SPEC).json()
    refused = client.post(f"/api/runs/{run['id']}/cancel", headers={"Sec-Fetch-Site": "same-site"})
    assert refused.status_code == 403
    assert client.get(f"/api/runs/{run['id']}").json()["status"] == "queued"
    own = client.post(f"/api/runs/{run['id']}/cancel", headers={"Sec-Fetch-Site": "same-origin",
                                                                 "Origin": "http://localhost"})
    assert own.status_code == 202
    assert client.get(f"/api/runs/{run['id']}").json()["status"] == "cancelled"


def test_a_text_plain_body_from_another_origin_creates_nothing(sqlite_platform):
    r = sqlite_platform.client.post("/api/runs", content='{"spec": {"model": {"arch": "resnet"}}}',
                                    headers={"Content-Type": "text/plain", "Origin": "http://evil.example"})
    assert r.status_code == 403
    assert sqlite_platform.count() == 0


def test_with_an_api_key_set_another_origin_is_still_refused_even_holding_the_key(request, tmp_path):
    settings = make_settings("sqlite", tmp_path, request, api_key="k3y")
    key = {"Authorization": "Bearer k3y"}
    with TestClient(create_app(settings, dispatch=False), base_url="http://localhost") as client:
        refused = client.post("/api/runs", json=SPEC, headers={**key, **FOREIGN})
        assert refused.status_code == 403 and "Cross-site request refused" in refused.json()["detail"]
        assert client.get("/api/runs", headers=key).json()["total"] == 0
        assert client.post("/api/runs", json=SPEC, headers=key).status_code == 201  # a script holding the key


def test_a_foreign_host_header_gets_400(sqlite_platform):
    client = sqlite_platform.client
    refused = client.get("/api/runs", headers={"Host": "attacker.example"})
    assert refused.status_code == 400
    assert "'attacker.example'" in refused.text and "SHAKELAB_ALLOWED_HOSTS" in refused.text
    assert "content-security-policy" in refused.headers
    assert client.get("/", headers={"Host": "attacker.example:8000"}).status_code == 400
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
        assert client.get("/api/health", headers={"Host": host}).status_code == 200, host


def test_allowed_hosts_come_from_the_setting_and_loopback_stays_answered(request, tmp_path):
    settings = make_settings("sqlite", tmp_path, request, allowed_hosts="gpubox.lab, shakelab.example")
    with TestClient(create_app(settings, dispatch=False), base_url="http://gpubox.lab") as client:
        assert client.get("/api/health").status_code == 200
        assert client.get("/api/health", headers={"Host": "shakelab.example"}).status_code == 200
        assert client.get("/api/health", headers={"Host": "attacker.example"}).status_code == 400
        # The container's healthcheck asks 127.0.0.1 (docker/healthcheck.py): listing the box's names must
        # not make the api unhealthy.
        for host in ("127.0.0.1:8000", "localhost:8000"):
            assert client.get("/api/health", headers={"Host": host}).status_code == 200, host


@pytest.mark.parametrize("path", ["/", "/js/app.js", "/api/health", "/api/runs", "/api/nothing-here"])
def test_every_answer_carries_the_security_headers(sqlite_platform, path):
    headers = sqlite_platform.client.get(path).headers
    policy = dict(part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";"))
    # ShakeLab's own scripts only: no inline, no other host ('unsafe-eval': Plotly's WebGL charts need it)
    assert policy["script-src"] == "'self' 'unsafe-eval'"
    assert policy["frame-ancestors"] == "'none'"
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"


def test_the_dashboard_has_no_inline_script_for_the_policy_to_block():
    from backend.api import FRONTEND

    for page in FRONTEND.glob("*.html"):
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page.read_text(), flags=re.S)
        assert scripts and all("src=" in attrs and not body.strip() for attrs, body in scripts), page
        assert not re.search(r"\son[a-z]+=", page.read_text()), f"{page} has an inline event handler"


def test_protected_reads_need_the_key_and_health_stays_open(request, tmp_path):
    settings = make_settings("sqlite", tmp_path, request, api_key="k3y", protect_reads=True)
    with TestClient(create_app(settings, dispatch=False), base_url="http://localhost") as client:
        for path in ("/api/runs", "/api/catalog", "/api/tables", "/api/workers", "/api/experiments"):
            assert client.get(path).status_code == 401, path
            assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401, path
            assert client.get(path, headers={"Authorization": "Bearer k3y"}).status_code == 200, path
        assert client.get("/api/health").status_code == 200
        assert client.get("/").status_code == 200  # the dashboard's files hold no results


def test_protect_reads_without_a_key_is_refused_at_start(tmp_path):
    from backend.settings import Settings

    with pytest.raises(ValueError, match="SHAKELAB_PROTECT_READS needs SHAKELAB_API_KEY"):
        Settings(home=tmp_path, protect_reads=True)
