"""ShakeLab from Python: the REST API as methods that return the API's own pydantic models.

    from shakelab.client import Client

    lab = Client()                                   # SHAKELAB_URL, SHAKELAB_API_KEY, else http://127.0.0.1:8000
    run = lab.submit({"model": {"arch": "pyramidnet", "depth": 110},
                      "regularization": {"method": "shakedrop"}}, tags=["pn110"])
    run = lab.wait(run.id)                           # a progress bar until it ends
    columns = lab.metrics(run.id)                    # columns: .epoch, .test_error, ...
    frame = lab.metrics_frame(run.id)                # the same as a pandas DataFrame (pandas not required)

Every error is a `ShakeLabError`: `InvalidRequest` (422, with the field and message of each problem),
`Unauthorized` (401), `NotFound` (404), `Conflict` (409), `Forbidden` (403) and `ServerUnavailable` (the
server is down or unreachable, or its database is).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from backend.schemas import ExperimentOut, Metrics, QueueOut, RunOut, RunPage, SeedGroup, WorkerOut
from backend.searches.schemas import SearchCost, SearchOut, SearchSummary
from backend.tables.schemas import ReproduceOut, TableListItem, TableOut

__all__ = ["Client", "ShakeLabError", "InvalidRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict",
           "ServerUnavailable", "FINISHED", "DEFAULT_URL"]

DEFAULT_URL = "http://127.0.0.1:8000"
FINISHED = frozenset({"succeeded", "failed", "cancelled", "pruned"})

Model = TypeVar("Model", bound=BaseModel)


class ShakeLabError(Exception):
    """An answer other than success; `status` is the HTTP status (None when no answer came)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message, self.status = message, status


class InvalidRequest(ShakeLabError):
    """422: `errors` lists each problem as {"field": "spec.model.depth", "message": ...}."""

    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors),
                         422)

    @property
    def field(self) -> str:
        """The first bad field's dotted path."""
        return self.errors[0]["field"]


class Unauthorized(ShakeLabError):
    """401: the server needs an API key (SHAKELAB_API_KEY, or Client(api_key=...)), or another one."""


class Forbidden(ShakeLabError):
    """403."""


class NotFound(ShakeLabError):
    """404: no such run, search or table."""


class Conflict(ShakeLabError):
    """409: not in this state, e.g. deleting a run that still trains."""


class ServerUnavailable(ShakeLabError):
    """No answer from the server, or 503 (its database is down)."""


ERRORS_BY_STATUS = {401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 503: ServerUnavailable}


def _detail(response: httpx.Response) -> Any:
    try:
        return response.json().get("detail", response.text)
    except ValueError:
        return response.text.strip() or response.reason_phrase


def error_for(response: httpx.Response) -> ShakeLabError:
    detail = _detail(response)
    if response.status_code == 422 and isinstance(detail, list):
        return InvalidRequest([{"field": str(d.get("field", ".".join(map(str, d.get("loc", [])[1:])))),
                                "message": str(d.get("msg", d))} for d in detail])
    cls = ERRORS_BY_STATUS.get(response.status_code, ShakeLabError)
    return cls(f"{response.status_code}: {detail}", response.status_code)


class Client:
    """A ShakeLab server. `url` and `api_key` default to $SHAKELAB_URL and $SHAKELAB_API_KEY."""

    def __init__(self, url: str | None = None, api_key: str | None = None, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None):
        self.url = (url or os.environ.get("SHAKELAB_URL") or DEFAULT_URL).rstrip("/")
        key = api_key if api_key is not None else os.environ.get("SHAKELAB_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------- HTTP

    def request(self, method: str, path: str, **kw) -> httpx.Response:
        """One request to the API (path under /api); raises the ShakeLabError that fits a failure."""
        try:
            response = self._http.request(method, f"/api{path}", **kw)
        except httpx.TransportError as exc:
            raise ServerUnavailable(f"no answer from ShakeLab at {self.url} ({exc.__class__.__name__}: {exc}); "
                                    "is the server running? (make run, or set SHAKELAB_URL)") from None
        if response.is_error:
            raise error_for(response)
        return response

    def _get(self, path: str, model: type[Model] | Any, **params) -> Any:
        params = {k: v for k, v in params.items() if v is not None}
        return TypeAdapter(model).validate_python(self.request("GET", path, params=params).json())

    def _send(self, method: str, path: str, model: type[Model] | Any, body: Any = None) -> Any:
        return TypeAdapter(model).validate_python(self.request(method, path, json=body).json())

    # ------------------------------------------------------------------------------------------- runs

    def submit(self, spec: Mapping[str, Any], *, name: str | None = None, tags: Iterable[str] = (),
               notes: str = "", gpus: int = 1) -> RunOut:
        """Queue one run of `spec` (the run spec; the papers' defaults fill what it leaves out), trained on `gpus`
        GPUs at once by a worker that owns that many."""
        body = {"spec": dict(spec), "gpus": gpus, "tags": list(tags), "notes": notes,
                **({"name": name} if name else {})}
        return self._send("POST", "/runs", RunOut, body)

    def submit_experiment(self, spec: Mapping[str, Any], *, name: str, seeds: Sequence[int] | None = None,
                          grid: Mapping[str, Sequence[Any]] | None = None, tags: Iterable[str] = (),
                          notes: str = "", gpus: int = 1) -> ExperimentOut:
        """Queue every combination of `seeds` and the grid's values, e.g. grid={"regularization.p_last": [0.5, 0.7]}."""
        body = {"name": name, "spec": dict(spec), "grid": dict(grid or {}), "tags": list(tags), "notes": notes,
                "gpus": gpus,
                **({"seeds": list(seeds)} if seeds is not None else {})}
        return self._send("POST", "/experiments", ExperimentOut, body)

    def runs(self, *, status: str | Sequence[str] | None = None, tag: str | None = None, arch: str | None = None,
             method: str | None = None, dataset: str | None = None, experiment_id: int | None = None,
             search: int | None = None, archived: bool | None = False, order: str = "created", limit: int = 100,
             offset: int = 0) -> RunPage:
        """Runs, newest first, filtered as GET /api/runs does; archived=None lists both kinds."""
        statuses = [status] if isinstance(status, str) else list(status) if status else None
        return self._get("/runs", RunPage, status=statuses, tag=tag, arch=arch, method=method, dataset=dataset,
                         experiment_id=experiment_id, search=search, order=order, limit=limit, offset=offset,
                         archived={False: "false", True: "true", None: "any"}[archived])

    def run(self, run_id: int) -> RunOut:
        return self._get(f"/runs/{run_id}", RunOut)

    def metrics(self, run_id: int, *, max_points: int | None = None) -> Metrics:
        """The run's epochs column-wise: .epoch, .train_error, .test_error, .val_error (None without a split)..."""
        return self._get(f"/runs/{run_id}/metrics", Metrics, max_points=max_points)

    def metrics_frame(self, run_id: int):
        """The run's epochs as a pandas DataFrame indexed by epoch (needs pandas, which ShakeLab does not)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("metrics_frame needs pandas (pip install pandas); metrics() gives the same "
                              "columns without it") from None
        m = self.metrics(run_id)
        columns = {name: value for name, value in m.model_dump().items() if isinstance(value, list)}
        return pd.DataFrame(columns).set_index("epoch")

    def seeds(self, run_id: int) -> SeedGroup:
        """The run's seed group: every run of its spec and the statistics over the counted ones."""
        return self._get(f"/runs/{run_id}/seeds", SeedGroup)

    def cancel(self, run_id: int) -> RunOut:
        return self._send("POST", f"/runs/{run_id}/cancel", RunOut)

    def rerun(self, run_id: int, *, new_seed: bool = False) -> RunOut:
        return self._send("POST", f"/runs/{run_id}/rerun", RunOut, {"new_seed": new_seed})

    def edit(self, run_id: int, *, name: str | None = None, tags: Iterable[str] | None = None,
             notes: str | None = None) -> RunOut:
        """Change the run's name, its whole set of tags, or its notes; what is not given stays."""
        body = {k: v for k, v in (("name", name), ("tags", None if tags is None else list(tags)), ("notes", notes))
                if v is not None}
        return self._send("PATCH", f"/runs/{run_id}", RunOut, body)

    def archive(self, run_id: int) -> RunOut:
        """Take the run out of the default list (runs(archived=True) lists it; restore() brings it back)."""
        return self._send("PATCH", f"/runs/{run_id}", RunOut, {"archived": True})

    def restore(self, run_id: int) -> RunOut:
        return self._send("PATCH", f"/runs/{run_id}", RunOut, {"archived": False})

    def delete(self, run_id: int) -> None:
        """Delete a finished run with its metrics and files; Conflict for a queued or running one."""
        self.request("DELETE", f"/runs/{run_id}")

    def download(self, run_id: int, name: str = "checkpoint.pt", to: str | Path | None = None) -> Path:
        """Save the run's checkpoint.pt (weights and spec) or metrics.jsonl, streamed; the path written."""
        path = Path(to) if to is not None else Path(f"run-{run_id}-{name}")
        if path.is_dir():
            path = path / f"run-{run_id}-{name}"
        partial = path.with_name(path.name + ".part")
        try:
            with self._http.stream("GET", f"/api/runs/{run_id}/files/{name}") as response:
                if response.is_error:
                    response.read()
                    raise error_for(response)
                with open(partial, "wb") as f:
                    for chunk in response.iter_bytes(1 << 20):
                        f.write(chunk)
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            raise ServerUnavailable(f"the download from {self.url} broke off ({exc.__class__.__name__})") from None
        partial.replace(path)
        return path

    def wait(self, run_id: int, *, poll_seconds: float = 2.0, timeout: float | None = None,
             progress: bool = True) -> RunOut:
        """Wait until the run has ended (succeeded, failed, cancelled or pruned) and return it; a tqdm bar shows
        its epochs. TimeoutError after `timeout` seconds."""
        from tqdm.auto import tqdm

        deadline = None if timeout is None else time.monotonic() + timeout
        run = self.run(run_id)
        with tqdm(total=run.epochs, desc=f"run #{run_id}", unit="epoch", disable=not progress,
                  dynamic_ncols=True) as bar:
            while True:
                bar.update(run.epochs_done - bar.n)
                last = "" if run.last_test_error is None else f" · test error {run.last_test_error:.2f}%"
                bar.set_postfix_str(f"{run.status}{last}", refresh=True)
                if run.status in FINISHED:
                    return run
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"run #{run_id} is still {run.status} after {timeout:g} s")
                time.sleep(poll_seconds)
                run = self.run(run_id)

    # ---------------------------------------------------------------------- searches, tables, workers

    def submit_search(self, body: Mapping[str, Any]) -> SearchOut:
        """Start a search: {"name", "spec", "space", "objective", "sampler", "pruner", "seeds", "max_runs", ...}
        as POST /api/searches takes it."""
        return self._send("POST", "/searches", SearchOut, dict(body))

    def search_cost(self, body: Mapping[str, Any]) -> SearchCost:
        """What a search could cost at most, without starting it (its dry run)."""
        return self._send("POST", "/searches/dry-run", SearchCost, dict(body))

    def searches(self, *, limit: int = 50) -> list[SearchSummary]:
        return self._get("/searches", list[SearchSummary], limit=limit)

    def search(self, search_id: int) -> SearchOut:
        return self._get(f"/searches/{search_id}", SearchOut)

    def stop_search(self, search_id: int, *, running: str = "finish") -> SearchOut:
        """Stop proposing; the runs in flight "finish" or are "cancel"led."""
        return self._send("POST", f"/searches/{search_id}/stop", SearchOut, {"running": running})

    def tables(self, *, profile: str | None = None) -> list[TableListItem]:
        return self._get("/tables", list[TableListItem], profile=profile)

    def table(self, table_id: str, *, profile: str | None = None) -> TableOut:
        return self._get(f"/tables/{table_id}", TableOut, profile=profile)

    def reproduce(self, table_id: str, *, seeds: int = 3, profile: str = "full", cells: Sequence[str] | None = None,
                  dry_run: bool = False) -> ReproduceOut:
        """Queue the runs the table lacks, or with dry_run=True only say how many and what they would cost."""
        body = {"seeds": seeds, "profile": profile, "dry_run": dry_run,
                **({"cells": list(cells)} if cells is not None else {})}
        return self._send("POST", f"/tables/{table_id}/reproduce", ReproduceOut, body)

    def workers(self) -> list[WorkerOut]:
        return self._get("/workers", list[WorkerOut])

    def queue(self) -> QueueOut:
        return self._get("/queue", QueueOut)
