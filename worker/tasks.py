"""The one Celery task: train run N. A thin shell around the engine; all state goes to the database.

It waits until the run's GPUs are free on this worker (worker/gpu_pool.py: all of them or none), claims the run
(a duplicate or cancelled message does nothing), runs the engine in a subprocess (torchrun's ranks for a run
on several GPUs), stores
each epoch as it lands, beats the heartbeat (and reads the cancel flag) every few seconds, and records how
the run ended. When the worker is asked to stop, the run goes back to the queue and resumes elsewhere from
its last checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

from celery.signals import worker_ready, worker_shutting_down
from sqlalchemy.exc import SQLAlchemyError

from backend.db import get_engine, session_scope
from backend.models import Run
from backend.settings import Settings, get_settings
from backend.store import (
    claim_run,
    finish_cancelled,
    finish_run,
    heartbeat,
    keep_dispatched,
    mark_dispatched,
    queued_gpus,
    record_epochs,
    release_run,
    worker_stopped,
)

from .celery_app import TRAIN_TASK, current_celery
from .engine.dataset_files import FILE_DATASETS, download_command, is_present
from .engine_process import EngineProcess
from .gpu_pool import GpuPool
from .presence import Presence

log = logging.getLogger("shakelab.worker")
app = current_celery()
_shutting_down = threading.Event()
_presence: Presence | None = None  # this process's, once the worker is ready

# Set by `python -m worker --gpus 0,1 [--gpu-labels 4,5]`: the GPU indices this worker's runs train on, and the
# names runs record for them (they differ in a container, which numbers its GPUs from 0).
GPU_ENV = "SHAKELAB_WORKER_GPU"
GPU_LABEL_ENV = "SHAKELAB_WORKER_GPU_LABEL"
SLOTS_ENV = "SHAKELAB_WORKER_SLOTS"  # runs trained at once on each GPU (--runs-per-gpu)
_pool: GpuPool | None = None
CHECKPOINT = "checkpoint.pt"  # the engine's (worker/engine/training.py), named here to keep torch out


@worker_shutting_down.connect
def _on_shutdown(**_):
    _shutting_down.set()


@worker_ready.connect
def _announce_presence(**_):
    """Tell the database this worker is alive, every heartbeat, until it stops (GET /api/workers)."""
    global _presence
    settings = get_settings()
    engine = get_engine(settings)
    pool = gpu_pool()
    _presence = presence = Presence(engine, worker_name(), gpu=os.environ.get(GPU_LABEL_ENV),
                                    slots=pool.size * pool.runs_per_gpu, data_dir=settings.resolved_data_dir,
                                    may_download=settings.download_datasets, placement=pool.report)

    def beat() -> None:
        while True:
            try:
                presence.beat()
            except SQLAlchemyError as exc:
                log.warning("worker presence not recorded (%s); will retry", exc.__class__.__name__)
            if _shutting_down.wait(settings.heartbeat_seconds):
                break
        try:
            worker_stopped(engine, presence.name)
        except SQLAlchemyError:
            pass  # its last_seen goes stale instead

    threading.Thread(target=beat, name="shakelab-presence", daemon=True).start()


def gpu_pool() -> GpuPool:
    """This worker's GPUs ([None]: a worker without any, which trains on the CPU) and who holds them."""
    global _pool
    if _pool is None:
        labels = os.environ.get(GPU_LABEL_ENV)
        _pool = GpuPool(labels.split(",") if labels else [None], int(os.environ.get(SLOTS_ENV, "1")))
    return _pool


def host_and_gpu() -> str:
    label = os.environ.get(GPU_LABEL_ENV)
    return f"{socket.gethostname()}/gpu{label.replace(',', '+')}" if label else socket.gethostname()


def worker_name() -> str:
    """host[/gpuN]#pid: what the worker's presence and the runs it claims record, so that the workers page
    can say which run each worker trains."""
    return f"{host_and_gpu()}#{os.getpid()}"


@app.task(name=TRAIN_TASK)
def train_run(run_id: int) -> str:
    settings = get_settings()
    engine = get_engine(settings)
    if _shutting_down.is_set():  # taken while stopping: have the dispatcher publish it again for another worker
        mark_dispatched(engine, run_id, None)
        return "deferred"
    wanted = queued_gpus(engine, run_id)
    if wanted is None:
        log.info("run %s is not queued (already taken, finished or cancelled); nothing to do", run_id)
        return "skipped"
    pool = gpu_pool()
    if wanted > pool.size:  # published to a queue this worker should not read: let a wider worker have it
        mark_dispatched(engine, run_id, None)
        return "deferred"

    def still_wanted() -> bool:  # the presence thread's heartbeat reports the wait (why) meanwhile
        return not _shutting_down.is_set() and keep_dispatched(engine, run_id)

    # Behind another waiting run for longer than a stale worker is given: back to the queue, where a worker
    # with free GPUs may take it.
    held = pool.acquire(run_id, wanted, still_wanted=still_wanted, patience=settings.stale_after_seconds,
                        poll=settings.heartbeat_seconds)
    if held is None:
        mark_dispatched(engine, run_id, None)
        return "deferred"
    try:
        labels = pool.labels_of(held)
        gpu_label = ",".join(labels) if labels[0] is not None else None
        token = claim_run(engine, run_id, worker=worker_name(), gpu=gpu_label)
        if token is None:
            log.info("run %s is not queued (already taken, finished or cancelled); nothing to do", run_id)
            return "skipped"
        if _presence is not None:
            _presence.placement_changed()
        indices = os.environ.get(GPU_ENV)
        visible = ",".join(indices.split(",")[i] for i in held) if indices else None
        try:
            return RunSupervisor(settings, run_id, token, visible, processes=len(held)).supervise()
        except Exception as exc:  # a bug or a broken machine: say so on the run instead of leaving it to go stale
            log.exception("run %s: the worker failed", run_id)
            finish_run(engine, run_id, token, "failed", f"the worker failed: {exc.__class__.__name__}: {exc}")
            return "failed"
    finally:
        pool.release(run_id)
        if _presence is not None:
            _presence.placement_changed()


class RunSupervisor:
    """Watches one engine process on behalf of one claimed run."""

    def __init__(self, settings: Settings, run_id: int, token: str, gpu: str | None, processes: int = 1):
        self.settings, self.run_id, self.token, self.gpu = settings, run_id, token, gpu
        self.processes = processes
        self.db = get_engine(settings)
        self.pending: list[dict] = []  # epochs not yet stored (the database may be briefly away)

    def supervise(self) -> str:
        with session_scope(self.db) as session:
            run = session.get(Run, self.run_id)
            spec, recorded = run.spec, run.epochs_done
        run_dir = self.settings.run_dir(self.run_id)
        if recorded and not (run_dir / CHECKPOINT).exists():
            # Training again from epoch 1 would mix two trainings in one history.
            error = (f"{recorded} epochs are recorded but the checkpoint is not in {run_dir}: every worker must "
                     f"share the runs directory (SHAKELAB_RUNS_DIR)")
            finish_run(self.db, self.run_id, self.token, "failed", error)
            return "failed"
        refusal = self._dataset_refusal(spec["dataset"]["name"])
        if refusal:
            finish_run(self.db, self.run_id, self.token, "failed", refusal)
            return "failed"
        run_dir.mkdir(parents=True, exist_ok=True)
        spec_path = run_dir / "submitted_spec.json"
        spec_path.write_text(json.dumps(spec, indent=2))
        log.info("run %s: training in %s", self.run_id, run_dir)
        engine = EngineProcess(spec_path, run_dir, data_dir=self.settings.resolved_data_dir, gpu=self.gpu,
                               download=self.settings.download_datasets, processes=self.processes)
        try:
            return self._watch(engine)
        finally:
            if _presence is not None:
                _presence.download_progress(self.run_id, None)

    def _dataset_refusal(self, dataset: str) -> str | None:
        """Why the run cannot start here: its dataset is missing and this worker may not download it."""
        data_dir = self.settings.resolved_data_dir
        if dataset not in FILE_DATASETS or self.settings.download_datasets or is_present(dataset, data_dir):
            return None
        files = FILE_DATASETS[dataset]
        return (f"{files.title} is not in {data_dir} and this worker does not download datasets "
                f"(SHAKELAB_DOWNLOAD_DATASETS=false): download it once with `{download_command(dataset, data_dir)}` "
                f"(`make download-cifar` does it for both CIFARs), or copy the folder {files.folder} there")

    def _watch(self, engine: EngineProcess) -> str:
        next_beat = 0.0
        shown = None  # the download progress last reported
        while engine.poll() is None:
            self.pending += engine.events(timeout=0.5)
            progress = engine.download
            if progress is not None and progress["bytes"] == progress["total"]:
                progress = None  # fetched: what follows (extraction, the first epoch) is no download
            if progress != shown and _presence is not None:
                shown = progress
                _presence.download_progress(self.run_id, progress)
            if not self._flush():
                engine.stop()
                return "lost"
            if _shutting_down.is_set():
                self._stop(engine)
                release_run(self.db, self.run_id, self.token,
                            "its worker stopped; back in the queue, to resume from its last checkpoint")
                return "released"
            if time.monotonic() >= next_beat:
                state = self._beat()
                if state in ("cancel", "lost"):
                    self._stop(engine)
                    if state == "cancel":  # ends `cancelled`, or `pruned` when its search asked
                        finish_cancelled(self.db, self.run_id, self.token)
                    return state
                next_beat = time.monotonic() + self.settings.heartbeat_seconds
        self.pending += engine.finish()
        while self.pending:  # every finished epoch is stored before the run is closed
            if not self._flush():
                return "lost"
            if self.pending:
                time.sleep(1)
        if engine.poll() == 0:
            finish_run(self.db, self.run_id, self.token, "succeeded")
            return "succeeded"
        error = engine.error_text()
        log.warning("run %s failed: %s", self.run_id, error)
        finish_run(self.db, self.run_id, self.token, "failed", error)
        return "failed"

    def _stop(self, engine: EngineProcess) -> None:
        """Stop the engine and store the epochs it finished before it stopped."""
        engine.stop()
        self.pending += engine.finish()
        self._flush()

    def _flush(self) -> bool:
        """Store pending epochs; False only if another worker owns the run now (a database outage keeps
        them pending)."""
        if not self.pending:
            return True
        try:
            owned = record_epochs(self.db, self.run_id, self.token, self.pending)
        except SQLAlchemyError as exc:
            log.warning("run %s: cannot store epochs yet (%s); will retry", self.run_id, exc.__class__.__name__)
            return True
        self.pending = []
        return owned

    def _beat(self) -> str:
        try:
            return heartbeat(self.db, self.run_id, self.token)
        except SQLAlchemyError as exc:
            log.warning("run %s: heartbeat failed (%s); will retry", self.run_id, exc.__class__.__name__)
            return "ok"
