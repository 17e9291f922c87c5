"""Alerts to SHAKELAB_WEBHOOK_URL, received by an HTTP server of the test's own on this machine: a run that
succeeds, fails or diverges, a search that ends; a webhook that is down or never answers holds nothing up."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from backend import store
from backend.alerts import Alerts
from backend.searches.advance import advance_searches
from tests.live import TINY_SPEC, LiveSystem

# The engine's own words for a diverged run (worker/engine/training.py raises TrainingDiverged with them;
# tests/unit/test_training.py checks the alerts recognise what it really raises).
DIVERGED = "training loss became nan at epoch 3 (lr 9.5); the run stopped, epochs 1-2 are recorded"
EPOCH = {"train_loss": 1.0, "train_error": 50.0, "test_loss": 1.1, "test_error": 55.0, "lr": 0.1, "seconds": 1.0,
         "images_per_second": 64.0}


class Webhook:
    """A Slack-like incoming webhook: stores every JSON body it is sent; `fail_first` answers 500 that often."""

    def __init__(self, fail_first: int = 0):
        received, failures = [], [fail_first]

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if failures[0] > 0:
                    failures[0] -= 1
                    self.send_response(500)
                else:
                    received.append(body)
                    self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self) -> list[str]:
        return [body["text"] for body in self.received]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise TimeoutError(f"waited {timeout} s for {what}")


@pytest.mark.slow
def test_a_live_server_announces_a_succeeded_and_a_failed_run_with_links(tmp_path, webhook):
    env = {"SHAKELAB_WEBHOOK_URL": webhook.url, "SHAKELAB_PUBLIC_URL": "https://lab.example"}
    with LiveSystem(tmp_path, env=env) as system:
        system.start_worker(env={"SHAKELAB_DOWNLOAD_DATASETS": "false"})
        good = system.post("/api/runs", json={"spec": TINY_SPEC, "name": "tiny"}).json()
        # CIFAR-10 is not here and this worker may not download it: the run fails, saying so.
        bad = system.post("/api/runs", json={"spec": {**TINY_SPEC, "dataset": {"name": "cifar10"}}}).json()
        system.wait_for_status(good["id"], "succeeded")
        system.wait_for_status(bad["id"], "failed")
        texts = wait_for(lambda: len(webhook.received) >= 2 and webhook.texts(), 30, "two alerts")
    succeeded = next(t for t in texts if f"run #{good['id']}" in t)
    failed = next(t for t in texts if f"run #{bad['id']}" in t)
    assert "“tiny” succeeded: test error" in succeeded and "3 epochs" in succeeded
    assert f"<https://lab.example/#/runs/{good['id']}|Open run #{good['id']}>" in succeeded
    assert "failed after 0 of 3 epochs" in failed and "CIFAR-10" in failed
    assert len(texts) == 2  # each end announced once


def finished_run(platform, status: str, error: str | None = None) -> int:
    run = platform.client.post("/api/runs", json={"spec": TINY_SPEC, "name": "pn"}).json()
    token = store.claim_run(platform.engine, run["id"], worker="box#1", gpu=None)
    store.record_epochs(platform.engine, run["id"], token, [{"epoch": e, **EPOCH} for e in (1, 2)])
    store.finish_run(platform.engine, run["id"], token, status, error)
    return run["id"]


def test_a_diverged_run_is_announced_naming_its_epoch_once_across_two_dispatchers(platform, webhook):
    run_id = finished_run(platform, "failed", DIVERGED)
    settings = platform.settings.model_copy(update={"webhook_url": webhook.url})
    first, second = Alerts(settings, platform.engine), Alerts(settings, platform.engine)
    try:
        [message] = first.collect()
        assert second.collect() == [] and first.collect() == []  # claimed once, by one of them
        wait_for(lambda: webhook.received, 10, "the alert")
    finally:
        first.stop()
        second.stop()
    assert webhook.texts() == [message]
    assert f"run #{run_id} “pn” diverged at epoch 3 of 3 (training loss nan); epochs 1-2 are recorded" in message


def test_cancelled_runs_are_not_announced_and_a_finished_search_is(platform, webhook):
    run = platform.client.post("/api/runs", json={"spec": TINY_SPEC}).json()
    platform.client.post(f"/api/runs/{run['id']}/cancel")
    search = platform.client.post("/api/searches", json={
        "name": "lr sweep", "spec": {**TINY_SPEC, "dataset": {**TINY_SPEC["dataset"], "validation": 16}},
        "space": {"optim.lr": {"float": [0.01, 1.0], "log": True}}, "max_runs": 4}).json()
    platform.client.post(f"/api/searches/{search['id']}/stop", json={"running": "cancel"})
    advance_searches(platform.engine)  # what the dispatcher does each pass: the search with nothing in flight ends
    assert platform.client.get(f"/api/searches/{search['id']}").json()["status"] == "finished"
    alerts = Alerts(platform.settings.model_copy(update={"webhook_url": webhook.url}), platform.engine)
    try:
        [message] = alerts.collect()
    finally:
        alerts.stop()
    assert f"search #{search['id']} “lr sweep” finished (stopped by request). No proposal completed." in message
    assert f"/#/searches/{search['id']}|Open search" in message


def test_a_failing_webhook_is_retried_then_given_up_with_a_log_line(monkeypatch, caplog):
    import backend.alerts as alerts_module

    monkeypatch.setattr(alerts_module, "RETRY_DELAYS", (0.05, 0.05))
    flaky, dead = Webhook(fail_first=2), Webhook(fail_first=99)
    try:
        with httpx.Client() as client:
            sender = Alerts.__new__(Alerts)
            sender.url = flaky.url
            assert sender.post(client, "third time lucky") is True
            sender.url = dead.url
            assert sender.post(client, "never taken") is False
    finally:
        flaky.close()
        dead.close()
    assert flaky.texts() == ["third time lucky"]
    assert "webhook message dropped after 3 attempts: never taken" in caplog.text


@pytest.mark.slow
def test_a_webhook_that_never_answers_holds_up_no_run(tmp_path):
    # A port that takes connections and never answers: each alert waits for its timeout, in its own thread.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    env = {"SHAKELAB_WEBHOOK_URL": f"http://127.0.0.1:{silent.getsockname()[1]}/hook"}
    try:
        with LiveSystem(tmp_path, env=env) as system:
            system.start_worker()
            first = system.post("/api/runs", json={"spec": TINY_SPEC}).json()
            system.wait_for_status(first["id"], "succeeded")
            # the first alert is now stuck on the silent webhook; dispatch and training go on meanwhile
            second = system.post("/api/runs", json={"spec": TINY_SPEC}).json()
            done = system.wait_for_status(second["id"], "succeeded", timeout=120)
            assert done["epochs_done"] == 3
            assert system.get("/api/health").json()["status"] == "ok"
            connection, _ = silent.accept()  # the alert was attempted
            connection.close()
    finally:
        silent.close()


def test_no_webhook_no_alert(platform):
    finished_run(platform, "succeeded")
    assert platform.settings.webhook_url is None
    assert Alerts(platform.settings, platform.engine).collect() == []
