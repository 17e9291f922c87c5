"""The dispatcher: a thread in the API process that keeps the broker in step with the database.

Each pass (every few seconds, or at once when a run is created) it
- publishes "run N is ready" for queued runs not yet published (created while the broker was down, or
  given back by a stale or stopping worker): a run is stored first and dispatched when it can be;
- requeues running runs whose heartbeat went stale, so that another worker resumes them;
- publishes again the queued runs whose message is gone (the broker's queue is empty, yet they were
  published long ago: a broker restarted without persistence lost them);
- advances every active search (backend/searches/advance.py): settles, prunes and proposes runs;
- hands the runs and searches that ended to the alerts (backend/alerts.py), when a webhook is set.
Every step is a conditional update, so several API processes can run dispatchers side by side.
"""

from __future__ import annotations

import logging
import threading

from kombu.exceptions import ChannelError, KombuError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from worker.celery_app import TRAIN_TASK, celery_for, queue_for

from .alerts import Alerts
from .db import get_engine, migrate
from .models import utcnow
from .searches.advance import advance_searches
from .settings import Settings
from .store import forget_lost_dispatches, mark_dispatched, queued_widths, requeue_stale, runs_to_dispatch

log = logging.getLogger("shakelab.dispatch")

BROKER_ERRORS = (KombuError, RedisError, OSError, TimeoutError)


class Dispatcher:
    def __init__(self, settings: Settings, *, migrated: bool = True):
        self.settings = settings
        self.engine = get_engine(settings)
        self.celery = celery_for(settings)
        self.migrated = migrated
        self.broker_up: bool | None = None
        self.alerts = Alerts(settings, self.engine)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="shakelab-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.alerts.stop()

    def wake(self) -> None:
        """Dispatch now (a run was just created)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except SQLAlchemyError as exc:
                log.warning("dispatcher: database unavailable (%s); retrying", exc.__class__.__name__)
            except Exception:  # never let the thread die: the next pass may succeed
                log.exception("dispatcher pass failed")
            self._wake.wait(self.settings.dispatch_interval_seconds)
            self._wake.clear()

    def run_once(self) -> dict:
        if not self.migrated:
            migrate(self.settings.resolved_database_url)
            self.migrated = True
        s = self.settings
        outcome = requeue_stale(self.engine, stale_after=s.stale_after_seconds, max_attempts=s.max_attempts)
        for kind, ids in outcome.items():
            if ids:
                log.warning("runs %s with a silent worker: %s", ids, kind)
        if self.broker_queue_empty():
            outcome["republished"] = forget_lost_dispatches(self.engine, older_than=s.stale_after_seconds)
        # Searches first: the runs they propose are published in this same pass.
        outcome["searches"] = advance_searches(self.engine)
        outcome["published"] = self.publish_pending()
        outcome["alerts"] = self.alerts.collect()
        return outcome

    def broker_queue_empty(self) -> bool:
        """True only when the broker answers that our queues (one per number of GPUs that queued runs ask
        for) hold no message."""
        queues = {queue_for(self.settings.queue, gpus) for gpus in queued_widths(self.engine) | {1}}
        try:
            with self.celery.connection_for_write() as connection:
                channel = connection.default_channel
                return all(self._queue_empty(channel, queue) for queue in sorted(queues))
        except Exception:  # unreachable: nothing to conclude
            return False

    @staticmethod
    def _queue_empty(channel, queue: str) -> bool:
        try:
            return channel.queue_declare(queue, passive=True).message_count == 0
        except ChannelError:  # the broker answered: no such queue (it forgot it, and its messages)
            return True

    def publish_pending(self) -> list[int]:
        published = []
        for run_id, gpus in runs_to_dispatch(self.engine):
            if not mark_dispatched(self.engine, run_id, utcnow()):
                continue  # another dispatcher took it
            try:
                self.celery.send_task(TRAIN_TASK, args=[run_id], queue=queue_for(self.settings.queue, gpus),
                                      retry=False)
            except BROKER_ERRORS as exc:
                mark_dispatched(self.engine, run_id, None)
                if self.broker_up is not False:
                    log.warning("broker unreachable (%s); queued runs wait in the database", exc)
                self.broker_up = False
                break
            self.broker_up = True
            published.append(run_id)
        return published
