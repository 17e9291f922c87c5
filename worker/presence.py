"""What a worker process tells the database with each heartbeat (GET /api/workers, GET /api/datasets).

That it is alive, how many runs it trains at once, and which runs hold or wait for its GPUs (the queue page
says why a run waits); which datasets its data directory holds and whether it may download the others
(SHAKELAB_DOWNLOAD_DATASETS), so that the dashboard can say before a run is queued whether CIFAR is on the
workers; and how far the downloads its runs wait on have got, which the run's page shows ("downloading
CIFAR-10: 43%"). One object per worker process, shared by its runs' threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from backend.store import worker_seen

from .engine.dataset_files import FILE_DATASETS, is_present

# A download's progress reaches the database at once, but not more often than this.
PROGRESS_WRITE_SECONDS = 0.5


class Presence:
    def __init__(self, db: Engine, name: str, *, gpu: str | None, slots: int, data_dir: Path,
                 may_download: bool, placement: Callable[[], dict] | None = None):
        self.db, self.name, self.gpu, self.slots = db, name, gpu, slots
        self.placement = placement  # its GPUs, their runs and the runs waiting for them (worker/gpu_pool.py)
        self.data_dir, self.may_download = Path(data_dir), may_download
        self._downloads: dict[int, dict] = {}  # run id -> {"dataset", "bytes", "total"}
        self._lock = threading.Lock()
        self._last_progress_write = 0.0

    def report(self) -> dict:
        """The `workers.datasets` document (backend/schemas.py WorkerDatasets)."""
        with self._lock:
            downloads = [{"run_id": run_id, **progress} for run_id, progress in sorted(self._downloads.items())]
        return {
            "data_dir": str(self.data_dir),
            "download": self.may_download,
            "datasets": {name: {"present": is_present(name, self.data_dir), "download_bytes": files.archive_bytes}
                         for name, files in FILE_DATASETS.items()},
            "downloads": downloads,
        }

    def beat(self) -> None:
        """Say this worker is alive, with its report; raises SQLAlchemyError when the database is away."""
        worker_seen(self.db, self.name, gpu=self.gpu, slots=self.slots, datasets=self.report(),
                    placement=self.placement() if self.placement else None)

    def placement_changed(self) -> None:
        """A run started, ended or waits on this worker's GPUs: say so now (the queue page shows why runs wait)."""
        try:
            self.beat()
        except SQLAlchemyError:
            pass  # the next heartbeat carries it

    def download_progress(self, run_id: int, progress: dict | None) -> None:
        """How far run `run_id`'s download has got ({"dataset", "bytes", "total"}), or None once it is over."""
        with self._lock:
            if progress is None:
                if self._downloads.pop(run_id, None) is None:
                    return
            else:
                self._downloads[run_id] = {k: progress.get(k) for k in ("dataset", "bytes", "total")}
        if progress is None or time.monotonic() - self._last_progress_write >= PROGRESS_WRITE_SECONDS:
            self._last_progress_write = time.monotonic()
            try:
                self.beat()
            except SQLAlchemyError:
                pass  # the next heartbeat carries it
