from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response

from ...store import NotFound
from ...tables.data import PAPER_TABLES, PaperTable
from ...tables.export import EXTENSIONS, MEDIA_TYPES, ExportFormat, export_table
from ...tables.profiles import DEFAULT_PROFILE, PROFILES, ProfileName
from ...tables.reproduce import TooManyRuns, UnknownCells, reproduce_table
from ...tables.results import table_list, table_view
from ...tables.schemas import ReproduceOut, ReproduceRequest, TableListItem, TableOut
from ..deps import Credentials, Db, require_api_key, wake_dispatcher

router = APIRouter(tags=["tables"])

Profile = Annotated[ProfileName, Query(description="the setting the cells are matched at: " + "; ".join(
    f"{p.name}: {p.label}" for p in PROFILES.values()))]
# The key is checked in the route rather than as a dependency: a dry run changes nothing and needs none.

NOT_FOUND = {404: {"description": "no such table"}}


def _table(table_id: str) -> PaperTable:
    table = PAPER_TABLES.get(table_id)
    if table is None:
        raise NotFound(f"table {table_id!r} not found; tables: {', '.join(PAPER_TABLES)}")
    return table


def _unprocessable(field: str, message: str) -> HTTPException:
    return HTTPException(422, [{"loc": ["body", field], "field": field, "msg": message, "type": "value_error"}])


@router.get("/tables", response_model=list[TableListItem],
            summary="The papers' tables, with how many cells are done, running, queued or missing")
def list_tables(db: Db, profile: Profile = DEFAULT_PROFILE) -> list[TableListItem]:
    return table_list(db, PROFILES[profile])


@router.get("/tables/{table_id}", response_model=TableOut, responses=NOT_FOUND,
            summary="A table: each cell's reported number beside the mean, spread and count of the finished "
                    "runs whose spec matches it (any seed)")
def get_table(table_id: str, db: Db, profile: Profile = DEFAULT_PROFILE) -> TableOut:
    return table_view(db, _table(table_id), PROFILES[profile])


@router.post("/tables/{table_id}/reproduce", response_model=ReproduceOut,
             responses={**NOT_FOUND, 401: {"description": "an API key is needed (except for a dry run)"}},
             summary="Queue the runs the table lacks (seeds 0..seeds-1 of every cell), or with dry_run only "
                     "say how many runs and epochs that would be, and how long they would train on this "
                     "installation's workers (measured) and on one H100 (estimated)")
def reproduce(table_id: str, body: ReproduceRequest, request: Request, db: Db,
              credentials: Credentials) -> ReproduceOut:
    if not body.dry_run:
        require_api_key(request, credentials)
    table = _table(table_id)
    try:
        result = reproduce_table(db, table, PROFILES[body.profile], seeds=body.seeds, cell_keys=body.cells,
                                 dry_run=body.dry_run,
                                 alive_within=request.app.state.settings.stale_after_seconds)
    except UnknownCells as exc:
        raise _unprocessable("cells", str(exc)) from None
    except TooManyRuns as exc:
        raise _unprocessable("seeds", str(exc)) from None
    if result.created_run_ids:
        db.commit()
        wake_dispatcher(request)
    return result


@router.get("/tables/{table_id}/export", response_class=Response, responses={
    **NOT_FOUND, 200: {"content": {t: {} for t in MEDIA_TYPES.values()},
                       "description": "the table with reported and reproduced columns and the profile's label"}},
    summary="The table as CSV (one line per cell), Markdown or LaTeX")
def export(table_id: str, db: Db,
           export_format: Annotated[ExportFormat, Query(alias="format")] = "csv",
           profile: Profile = DEFAULT_PROFILE) -> Response:
    view = table_view(db, _table(table_id), PROFILES[profile])
    filename = f"{table_id}-{profile}.{EXTENSIONS[export_format]}"
    return Response(export_table(view, export_format), media_type=f"{MEDIA_TYPES[export_format]}; charset=utf-8",
                    headers={"Content-Disposition": f'inline; filename="{filename}"'})
