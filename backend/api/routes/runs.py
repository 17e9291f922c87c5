from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import FileResponse
from isal import igzip
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from ... import read_cache, run_rows, series, store
from ...datasets import run_download
from ...models import METRIC_FIELDS, VALIDATION_FIELDS
from ...placement import waiting_reasons
from ...schemas import Comparison, Metrics, QueueOut, RunCreate, RunEdit, RunOut, RunPage, SeedGroup, Status
from ...seed_groups import seed_groups
from ..deps import MAX_ID, Db, PathId, require_api_key, wake_dispatcher
from ..key_reads import KeyReads, in_read_session

router = APIRouter(tags=["runs"])

QueryId = Annotated[int, Field(ge=1, le=MAX_ID)]


class JSONBody(Response):
    """JSON written by orjson (backend/series.py: numpy arrays, rounded metrics; backend/run_rows.py: runs read
    as rows): the reads skip pydantic's validation and its 17-digit floats; their schema stays documented by
    the route's response_model.
    Compressed here, in the request's worker thread (zlib lets go of the GIL), at level 1 (a 6.6 MB comparison:
    60 ms, 5% larger than level 3's 140 ms), rather than by the middleware on the event loop, where it would
    hold up every other request meanwhile."""
    media_type = "application/json"

    @classmethod
    def of(cls, request: Request, payload) -> JSONBody:
        body, encoding = _encoded(request, payload)
        return cls(body, headers=_encoding_headers(encoding))


def _accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "")


def _encoded(request: Request, payload) -> tuple[bytes, str | None]:
    body = series.dumps(payload)
    if len(body) < 2048 or not _accepts_gzip(request):
        return body, None
    return igzip.compress(body, 1, mtime=0), "gzip"  # ISA-L: 3x zlib's speed at level 1 (docs/benchmarks.md)


def _encoding_headers(encoding: str | None) -> dict[str, str]:
    return {"Content-Encoding": encoding, "Vary": "Accept-Encoding"} if encoding else {}


async def cached_answer(request: Request, key: tuple | None, build: Callable[[Session], object]) -> Response:
    """The answer of a read whose content is fixed by `key` (backend/read_cache.py): 304 when the client has
    it already (If-None-Match), else the bytes kept from an earlier read, both on the event loop, else
    `build(session)`'s payload, in a worker thread, encoded and kept. key None: an answer that depends on more
    than the key can say, built every time."""
    if key is None:
        return await _in_session(request, lambda db: JSONBody.of(request, build(db)))
    key = (*key, _accepts_gzip(request))
    tag = read_cache.etag(key)
    headers = {"ETag": tag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if read_cache.matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    cache: read_cache.ReadCache = request.app.state.read_cache
    kept = cache.get(key)
    if kept is None:
        def encode(db: Session) -> tuple[bytes, str | None]:
            return _encoded(request, build(db))

        kept = await _in_session(request, encode)
        cache.put(key, *kept)
    body, encoding = kept
    return JSONBody(body, headers={**headers, **_encoding_headers(encoding)})


async def _in_session(request: Request, work: Callable[[Session], object]):
    return await in_read_session(request.app.state.engine, work)


_NOT_MODIFIED = {304: {"description": "the client's copy (If-None-Match: the ETag it was sent) is current"}}


@router.get("/runs", response_model=RunPage, response_class=JSONBody, responses=_NOT_MODIFIED,
            summary="Runs, newest first, filterable")
async def list_runs(request: Request,
                    status: Annotated[list[Status] | None, Query(description="one or more statuses")] = None,
                    tag: Annotated[str | None, Query(max_length=64)] = None,
                    arch: Annotated[str | None, Query(max_length=40)] = None,
                    method: Annotated[str | None, Query(max_length=40)] = None,
                    dataset: Annotated[str | None, Query(max_length=40)] = None,
                    experiment_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                    search: Annotated[int | None, Query(ge=1, le=MAX_ID, description="the runs of one search")] = None,
                    spec_key: Annotated[str | None, Query(max_length=64,
                                                          description="runs of one spec, any seed")] = None,
                    ids: Annotated[list[QueryId] | None, Query(description="only these runs", max_length=1000)] = None,
                    archived: Annotated[Literal["false", "true", "any"], Query(
                        description="false: the active runs; true: only the archived ones; any: both")] = "false",
                    order: Annotated[str, Query(pattern="^(-?created|best|last|name|status)$")] = "created",
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> Response:
    page = {"order": order, "limit": limit, "offset": offset}
    filters = {"status": status, "tag": tag, "arch": arch, "method": method, "dataset": dataset,
               "experiment_id": experiment_id, "spec_key_": spec_key, "ids": ids, "search_id": search,
               "archived": {"false": False, "true": True, "any": None}[archived]}
    asked = (order, limit, offset, tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in filters.items()))
    page_keys: read_cache.PageKeys = request.app.state.page_keys
    generation = await _keys(request).generation()  # read first: the key below shows at least this generation
    key = page_keys.get(asked, generation)
    if key is None:
        total, versions = await _in_session(request, lambda db: run_rows.page_versions(db, **page, **filters))
        key = ("runs", total, versions)  # the page's runs in order, each as it is now, and how many match
        page_keys.put(asked, generation, key)

    def build(db):
        runs, total = run_rows.find_run_dicts(db, **page, **filters)
        return {"total": total, "runs": runs}

    return await cached_answer(request, key, build)


@router.get("/runs/{run_id}", response_model=RunOut, response_class=JSONBody,
            responses={404: {"description": "no such run"}, **_NOT_MODIFIED},
            summary="One run: spec, status, progress, best and last test error, timings, error text")
async def get_run(run_id: PathId, request: Request) -> Response:
    version, run_status, epochs_done = await _run_state(request, run_id)
    downloading = run_status == "running" and not epochs_done

    def build(db):
        out = run_rows.run_dict(db, run_id)
        if downloading:  # its worker may be fetching the dataset first
            download = run_download(db, run_id, alive_within=request.app.state.settings.stale_after_seconds)
            out["download"] = download and download.model_dump(mode="json")
        return out

    # A download's progress is the worker's news, not the run's: that answer is built each time.
    return await cached_answer(request, None if downloading else ("run", run_id, version), build)


def _keys(request: Request) -> KeyReads:
    return request.app.state.key_reads


async def _run_state(request: Request, run_id: int) -> tuple:
    state = (await _keys(request).run_states([run_id])).get(run_id)
    if state is None:
        raise store.NotFound(f"run {run_id} not found")
    return state


@router.post("/runs", status_code=status.HTTP_201_CREATED, response_model=RunOut,
             dependencies=[Depends(require_api_key)], summary="Queue one run of a spec")
def create_run(body: RunCreate, request: Request, db: Db) -> RunOut:
    [run] = store.create_runs(db, [body.spec], name=body.name, tags=body.tags, notes=body.notes,
                              gpus=body.gpus)
    db.commit()
    wake_dispatcher(request)
    return RunOut.of(run)


MaxPoints = Annotated[int | None, Query(ge=8, le=100_000, description="thin to about this many rows, keeping "
                                      "each stretch's lowest and highest train, test and validation error")]


# The metric columns of a Metrics answer that `columns=` can choose among (epoch always comes).
MetricColumn = Literal[METRIC_FIELDS + VALIDATION_FIELDS + ("wall_seconds",)]


@router.get("/runs/{run_id}/metrics", response_model=Metrics, response_class=JSONBody,
            responses={404: {"description": "no such run"}, **_NOT_MODIFIED},
            summary="The run's per-epoch rows, column-wise (after_epoch: only newer ones)")
async def get_metrics(run_id: PathId, request: Request, after_epoch: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
                      max_points: MaxPoints = None) -> Response:
    version, _, _ = await _run_state(request, run_id)

    def build(db):
        run = run_rows.run_facts(db, run_id)
        columns = series.read_series(db, {run.id: run.epochs_done})[run.id]
        return series.metrics_payload(run, columns, after_epoch=after_epoch, max_points=max_points)

    return await cached_answer(request, ("metrics", run_id, version, after_epoch, max_points), build)


@router.get("/compare", response_model=Comparison, response_class=JSONBody,
            responses={404: {"description": "no such run"}, **_NOT_MODIFIED},
            summary="Several runs and their metrics in one request (for overlays)")
async def compare(request: Request, ids: Annotated[list[QueryId], Query(min_length=1, max_length=200)],
                  max_points: MaxPoints = 1000,
                  columns: Annotated[list[MetricColumn] | None, Query(
                      description="only these metric columns (the others null); epoch always comes. Thinning keeps "
                                  "the same epochs whatever the columns")] = None) -> Response:
    ids = list(dict.fromkeys(ids))
    chosen = None if columns is None else tuple(sorted(set(columns)))
    states = await _keys(request).run_states(ids)
    if missing := [i for i in ids if i not in states]:
        raise store.NotFound(f"run {missing[0]} not found")

    def build(db):
        rows = {row.id: row for row in run_rows.find_run_rows(db, ids)}  # rows, not ORM objects: 200 at once
        if gone := [i for i in ids if i not in rows]:  # deleted since the key was read
            raise store.NotFound(f"run {gone[0]} not found")
        runs = [rows[i] for i in ids]
        data = series.read_series(db, {i: rows[i].epochs_done for i in ids})
        dicts = run_rows.run_dicts(db, runs)
        groups = seed_groups(runs, data)  # before thinning: statistics from every epoch
        return {"runs": dicts, "metrics": series.metrics_payloads(runs, data, max_points=max_points,
                                                                  only=chosen),
                "groups": [group.model_dump(mode="json") for group in groups]}

    key = ("compare", max_points, chosen, tuple((i, states[i][0]) for i in ids))
    return await cached_answer(request, key, build)


@router.get("/runs/{run_id}/seeds", response_model=SeedGroup, responses={404: {"description": "no such run"}},
            summary="The run's seed group: every run of its spec, which of them count, and their statistics")
def get_seed_group(run_id: PathId, db: Db) -> SeedGroup:
    run = store.get_run(db, run_id)
    members, _ = store.find_runs(db, spec_key_=run.spec_key, order="-created", limit=1000)
    [group] = seed_groups(members, store.metrics_of(db, [r.id for r in members]))
    return group


class RerunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    new_seed: bool = Field(False, description="false: the run's own seed again; true: the lowest seed that no "
                                              "run of its spec has used, one more sample of its seed group")


@router.post("/runs/{run_id}/rerun", status_code=status.HTTP_201_CREATED, response_model=RunOut,
             dependencies=[Depends(require_api_key)], responses={404: {"description": "no such run"}},
             summary="Queue the run's spec again, with its own seed or a new one")
def rerun(run_id: PathId, request: Request, db: Db, body: RerunBody | None = None) -> RunOut:
    created = store.rerun(db, run_id, new_seed=bool(body and body.new_seed))
    db.commit()
    wake_dispatcher(request)
    return RunOut.of(created)


@router.post("/runs/{run_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=RunOut,
             dependencies=[Depends(require_api_key)], responses={404: {"description": "no such run"}},
             summary="Cancel a queued or running run (a finished one is left as it is)")
def cancel_run(run_id: PathId, db: Db) -> RunOut:
    return RunOut.of(store.request_cancel(db, run_id))


@router.patch("/runs/{run_id}", response_model=RunOut, dependencies=[Depends(require_api_key)],
              responses={404: {"description": "no such run"}},
              summary="Change a run's name, tags or notes, or archive and restore it (never its spec)")
def edit_run(run_id: PathId, body: RunEdit, db: Db) -> RunOut:
    run = store.edit_run(db, run_id, name=body.name, tags=body.tags, notes=body.notes)
    if body.archived is not None:
        run = store.set_archived(db, run_id, body.archived)
    return RunOut.of(run)


@router.delete("/runs/{run_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[Depends(require_api_key)],
               responses={404: {"description": "no such run"},
                          409: {"description": "the run is queued or running (cancel it first), or its search "
                                             "is still running"}},
               summary="Delete a finished run: its metrics, tags and files (checkpoint, metrics.jsonl)")
def delete_run(run_id: PathId, request: Request, db: Db) -> Response:
    store.delete_run(db, run_id)
    db.commit()  # the row first: files without a row are harmless, a row without its files is not
    remove_run_files(request.app.state.settings.run_dir(run_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def remove_run_files(run_dir: Path) -> None:
    if run_dir.is_dir():
        shutil.rmtree(run_dir, ignore_errors=True)


# The files of a run's directory that can be downloaded, and what they are.
RUN_FILES = {
    "checkpoint.pt": "application/octet-stream",  # torch.save'd: model, optimizer, RNG, history, spec
    "metrics.jsonl": "application/x-ndjson",  # one JSON object per finished epoch
}


@router.get("/runs/{run_id}/files/{name}", response_class=FileResponse,
            responses={200: {"content": {media: {} for media in RUN_FILES.values()},
                             "description": "the file, streamed, with its length"},
                       404: {"description": "no such run, or the file is not (yet) on this server"}},
            summary="Download a run's checkpoint.pt (weights and spec) or metrics.jsonl")
def download_run_file(run_id: PathId, name: Literal["checkpoint.pt", "metrics.jsonl"], request: Request,
                      db: Db) -> FileResponse:
    run = store.get_run(db, run_id)
    path = request.app.state.settings.run_dir(run_id) / name
    if not path.is_file():
        where = "the API cannot read the runs directory" if not path.parent.parent.is_dir() else "none is written yet"
        raise store.NotFound(f"run {run_id} has no {name} on this server ({run.status}, {run.epochs_done} epochs "
                             f"recorded; {where}: {path.parent})")
    return FileResponse(path, media_type=RUN_FILES[name], filename=f"run-{run_id}-{name}")


@router.get("/queue", response_model=QueueOut,
            summary="Queued runs in the order workers will take them, how long each has waited, and why")
def get_queue(request: Request, db: Db, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> QueueOut:
    runs, total = store.queued_runs(db, limit)
    stale_after = request.app.state.settings.stale_after_seconds
    alive = [w for w, ok in store.find_workers(db, alive_within=stale_after) if ok]
    return QueueOut.of(runs, total, waiting_reasons(runs, alive))
