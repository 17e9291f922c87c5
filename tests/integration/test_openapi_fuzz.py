"""schemathesis against the app's own OpenAPI: no generated request, valid or not, gets a 5xx."""

from __future__ import annotations

import tempfile

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from backend.api import create_app
from backend.db import migrate
from backend.settings import Settings

# Built at collection (schemathesis parametrizes from the schema); a fresh SQLite store of its own.
# schemathesis calls the app as "testserver", the Host this server then answers to.
_settings = Settings(home=tempfile.mkdtemp(prefix="shakelab-fuzz-"), allowed_hosts=["testserver"])
migrate(_settings.resolved_database_url)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(_settings, dispatch=False))


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case):
    case.call_and_validate(checks=[not_a_server_error])
