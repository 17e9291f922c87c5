"""Alerts: a message to SHAKELAB_WEBHOOK_URL (Slack-compatible JSON, `{"text": ...}`) when a run succeeds,
fails or diverges, and when a search ends, with a link to its page.

The dispatcher finds what ended (`Alerts.collect`, each pass): a run or search is claimed by one conditional
UPDATE of its `alerted_at`, so two API processes never announce it twice, and an end is announced whichever
process recorded it (a worker, a stale-run check, a search's last run). Messages are posted by a thread of
their own with a few retries, so a slow or broken webhook never holds up dispatch, and a failure is logged.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from datetime import timedelta

import httpx
from sqlalchemy import Engine, select, update

from .db import session_scope
from .models import Run, Search, utcnow
from .settings import Settings

log = logging.getLogger("shakelab.alerts")

ANNOUNCED = ("succeeded", "failed")  # cancelled and pruned runs ended by someone's choice: no message
# Ends older than this are not announced (a webhook set on a server with a long history stays quiet).
LOOK_BACK = timedelta(days=1)
RETRY_DELAYS = (1.0, 4.0, 15.0)  # seconds before each new attempt
TIMEOUT = httpx.Timeout(10.0, connect=5.0)

DIVERGED = re.compile(r"training loss became (?P<loss>\S+) at epoch (?P<epoch>\d+)")


def run_message(run: Run, link: str) -> str:
    title = f"run #{run.id} “{run.name}”"
    if run.status == "succeeded":
        hours = run.train_seconds / 3600
        error = "no epoch recorded" if run.last_test_error is None else f"{run.last_test_error:.2f}%"
        return (f"ShakeLab: {title} succeeded: test error {error} at its last epoch "
                f"({run.epochs_done} epochs, {hours:.2g} h). <{link}|Open run #{run.id}>")
    error = (run.error or "no reason recorded").strip()
    diverged = DIVERGED.search(error)
    if diverged:
        return (f"ShakeLab: {title} diverged at epoch {diverged['epoch']} of {run.epochs} (training loss "
                f"{diverged['loss']}); epochs 1-{int(diverged['epoch']) - 1} are recorded. <{link}|Open run #{run.id}>")
    return (f"ShakeLab: {title} failed after {run.epochs_done} of {run.epochs} epochs: {error[:500]} "
            f"<{link}|Open run #{run.id}>")


def search_message(search: Search, link: str, best: tuple[int, float] | None) -> str:
    why = f" ({search.stop_reason})" if search.stop_reason else ""
    best_text = (f" Best {search.objective}: {best[1]:.2f} (proposal {best[0]})." if best
                 else " No proposal completed.")
    return f"ShakeLab: search #{search.id} “{search.name}” finished{why}.{best_text} <{link}|Open search #{search.id}>"


class Alerts:
    def __init__(self, settings: Settings, engine: Engine):
        self.url = settings.webhook_url
        self.base = settings.resolved_public_url
        self.engine = engine
        self._outbox: queue.Queue[str | None] = queue.Queue()
        self._sender: threading.Thread | None = None
        if self.url:
            self._sender = threading.Thread(target=self._send_loop, name="shakelab-alerts", daemon=True)
            self._sender.start()

    def stop(self) -> None:
        if self._sender is not None:
            self._outbox.put(None)
            self._sender.join(timeout=2)

    def collect(self) -> list[str]:
        """Queue a message for every run and search that ended since the last pass; the messages queued."""
        if not self.url:
            return []
        messages = []
        since = utcnow() - LOOK_BACK
        with session_scope(self.engine) as session:
            for run in session.scalars(select(Run).where(Run.status.in_(ANNOUNCED), Run.alerted_at.is_(None),
                                                         Run.finished_at >= since).order_by(Run.id)):
                if self._claim(session, Run, run.id):
                    messages.append(run_message(run, f"{self.base}/#/runs/{run.id}"))
            for search in session.scalars(select(Search).where(Search.status == "finished",
                                                               Search.alerted_at.is_(None),
                                                               Search.finished_at >= since)):
                if self._claim(session, Search, search.id):
                    values = [(p.number, p.value) for p in search.proposals
                              if p.state == "complete" and p.value is not None]
                    best = min(values, key=lambda item: item[1]) if values else None
                    messages.append(search_message(search, f"{self.base}/#/searches/{search.id}", best))
        for message in messages:
            self._outbox.put(message)
        return messages

    @staticmethod
    def _claim(session, model, row_id: int) -> bool:
        return bool(session.execute(update(model).where(model.id == row_id, model.alerted_at.is_(None))
                                    .values(alerted_at=utcnow())).rowcount)

    def _send_loop(self) -> None:
        with httpx.Client(timeout=TIMEOUT) as client:
            while (message := self._outbox.get()) is not None:
                self.post(client, message)

    def post(self, client: httpx.Client, message: str) -> bool:
        """POST one message, retrying a few times; False (and a log line) when the webhook never took it."""
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
            time.sleep(delay)
            try:
                response = client.post(self.url, json={"text": message})
                if response.status_code < 300:
                    return True
                problem = f"answered {response.status_code}"
            except httpx.HTTPError as exc:
                problem = f"unreachable ({exc.__class__.__name__})"
            log.warning("webhook %s (attempt %d of %d)", problem, attempt + 1, len(RETRY_DELAYS) + 1)
        log.error("webhook message dropped after %d attempts: %s", len(RETRY_DELAYS) + 1, message)
        return False
