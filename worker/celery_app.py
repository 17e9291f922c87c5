"""The Celery app shared by the API (which publishes "run N is ready") and the workers (which consume it).

The broker only carries run ids; state lives in the database. So: no result backend, a message is acked
when a worker takes it (a lost worker is noticed by its stale heartbeat, not by redelivery), and each
worker takes one message at a time.
"""

from __future__ import annotations

from functools import lru_cache

from celery import Celery

from backend.settings import Settings, get_settings

TRAIN_TASK = "shakelab.train_run"


def queue_for(base: str, gpus: int) -> str:
    """The broker queue of runs that ask for `gpus` GPUs: a worker consumes only the widths it can hold, so a
    run never reaches a worker with too few GPUs (1-GPU runs keep the base queue's name)."""
    return base if gpus == 1 else f"{base}.gpus{gpus}"


def make_celery(settings: Settings) -> Celery:
    app = Celery("shakelab", broker=settings.resolved_broker_url, set_as_current=False)
    timeout = settings.broker_timeout_seconds
    transport_options: dict = {"socket_connect_timeout": timeout, "socket_timeout": timeout,
                               "max_retries": 1, "interval_start": 0, "interval_step": 0.2}
    if settings.embedded_broker:
        folder = settings.broker_dir
        for sub in ("queue", "processed"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        transport_options = {"data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
                             "processed_folder": str(folder / "processed"), "store_processed": False,
                             "control_folder": str(folder / "control")}
    app.conf.update(
        broker_transport_options=transport_options,
        broker_connection_timeout=timeout,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker waits for the broker to come back
        task_default_queue=settings.queue,
        task_ignore_result=True,
        task_acks_late=False,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        # The filesystem transport has no broadcast: remote control (and so mingle/gossip) is off there.
        worker_enable_remote_control=not settings.embedded_broker,
        task_routes={TRAIN_TASK: {"queue": settings.queue}},
    )
    return app


@lru_cache
def celery_for(settings: Settings) -> Celery:
    return make_celery(settings)


def current_celery() -> Celery:
    return celery_for(get_settings())
