"""Whether the workers can train each dataset, from what they report with their presence (worker/presence.py).

The dashboard says it before a run is queued, in these words: "CIFAR-10 is on the workers", "CIFAR-10 will be
downloaded by the worker (163 MB) before the first epoch", "No worker has CIFAR-10 and downloads are off:
run `make download-cifar`". And a running run's page shows how far its worker's download has got.
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.orm import Session

from worker.engine.dataset_files import FILE_DATASETS, size_text
from worker.engine.spec import DatasetSpec

from .schemas import DatasetAvailability, RunDownload, WorkerDatasets
from .store import find_workers

__all__ = ["dataset_availability", "run_download", "worker_report"]

LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "digits": "Digits", "synthetic": "Synthetic"}
DOWNLOAD_COMMANDS = "`make download-cifar` (docker compose: `docker compose run --rm download-cifar`)"


def worker_report(document: dict | None) -> WorkerDatasets | None:
    """A worker's `datasets` column; None where it reports nothing or what this version cannot read."""
    try:
        return WorkerDatasets.model_validate(document) if document else None
    except ValidationError:
        return None


def _reports(session: Session, alive_within: float) -> list[WorkerDatasets | None]:
    """What each worker alive now reports."""
    return [worker_report(w.datasets) for w, alive in find_workers(session, alive_within=alive_within) if alive]


def dataset_availability(session: Session, *, alive_within: float) -> list[DatasetAvailability]:
    """Every dataset of the spec, with whether the workers alive now hold it, would fetch it, or cannot."""
    reports = _reports(session, alive_within)
    names = DatasetSpec.model_json_schema()["properties"]["name"]["enum"]
    return [_availability(name, reports) for name in names]


def _availability(name: str, reports: list[WorkerDatasets | None]) -> DatasetAvailability:
    label = LABELS.get(name, name)
    if name not in FILE_DATASETS:
        return DatasetAvailability(name=name, label=label, state="bundled", message=None, workers=len(reports),
                                   workers_with=len(reports), download_bytes=None)
    size = FILE_DATASETS[name].archive_bytes
    known = [r for r in reports if r is not None and name in r.datasets]
    have = [r for r in known if r.datasets[name].present]
    lack = [r for r in known if not r.datasets[name].present]
    fetchers = [r for r in lack if r.download]
    size = fetchers[0].datasets[name].download_bytes if fetchers else size
    mb = size_text(size)
    if not reports:
        state, message = "no_workers", f"No worker is running, so whether one has {label} is not known yet."
    elif not lack:
        state, message = "present", f"{label} is on the workers."
        if len(known) < len(reports):
            message = f"{label} is on {len(have)} of {len(reports)} workers (the others do not say)."
    elif len(fetchers) < len(lack):
        state = "missing"
        if have or fetchers:
            message = (f"{label} is missing on {len(lack) - len(fetchers)} of {len(reports)} workers, which may not "
                       f"download it: a run one of them takes fails. Run {DOWNLOAD_COMMANDS} there.")
        else:
            message = f"No worker has {label} and downloads are off: run {DOWNLOAD_COMMANDS}."
    elif have:
        state = "download"
        message = (f"{label} is on {len(have)} of {len(reports)} workers; the others download it ({mb}) before "
                   f"their first epoch.")
    else:
        state, message = "download", f"{label} will be downloaded by the worker ({mb}) before the first epoch."
    return DatasetAvailability(name=name, label=label, state=state, message=message, workers=len(reports),
                               workers_with=len(have), download_bytes=size)


def run_download(session: Session, run_id: int, *, alive_within: float) -> RunDownload | None:
    """The download that run `run_id` waits on, as its worker last reported it."""
    for report in _reports(session, alive_within):
        for download in report.downloads if report else ():
            if download.run_id == run_id:
                percent = 100 * download.bytes / download.total if download.total else None
                label = LABELS.get(download.dataset, download.dataset)
                done = f"{percent:.0f}%" if percent is not None else size_text(download.bytes)
                return RunDownload(dataset=download.dataset, bytes=download.bytes, total=download.total,
                                   percent=percent, message=f"downloading {label}: {done}")
    return None
