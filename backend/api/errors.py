"""Errors as clear JSON: 422 naming each bad field, 404 for unknown ids, 409 for a run in the wrong state, 503 when
the database is away."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError

from worker.engine.spec import SpecError, readable_error_list

from ..store import Conflict, NotFound

log = logging.getLogger("shakelab.api")


# Where a run spec sits in a request (POST /api/runs, /api/specs/resolve), for the "did you mean" of its keys.
SPEC_IN_REQUEST = ("body", "spec")


def _unprocessable(details: list[dict]) -> JSONResponse:
    """FastAPI's 422 shape (`detail[].loc`, `msg`, `type`), plus `field`: the dotted path inside the body (or
    the query or path parameter). Every 422 of the API has this shape, whichever check refused the request."""
    return JSONResponse(status_code=422, content={"detail": details})


def _same_wording(err: dict) -> dict:
    """pydantic's error where its wording depends on how a route declared its body, not on what was sent."""
    if err["type"] == "json_invalid":  # FastAPI puts the character position where a field name goes
        reason = err.get("ctx", {}).get("error", "JSON decode error")
        return {**err, "loc": err["loc"][:1], "msg": f"invalid JSON at character {err['loc'][-1]}: {reason}"}
    if err["type"] == "model_attributes_type":  # a section typed as a model here, as a dict elsewhere
        return {**err, "type": "dict_type", "msg": "Input should be a valid dictionary"}
    return err


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = [_same_wording(err) for err in exc.errors()]
        details = []
        for readable in readable_error_list(errors, spec_at=SPEC_IN_REQUEST):
            where, _, field = readable["field"].partition(".")
            details.append({"loc": [where, *field.split(".")] if field else [where], "field": field or where,
                            "msg": readable["message"], "type": readable["type"]})
        return _unprocessable(details)

    @app.exception_handler(SpecError)
    async def _bad_spec(request: Request, exc: SpecError):
        return _unprocessable([{"loc": ["body", *e["field"].split(".")], "field": e["field"], "msg": e["message"],
                                "type": e.get("type", "value_error")} for e in exc.errors])

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict):
        return JSONResponse(status_code=409, content={"detail": str(exc)})

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_down(request: Request, exc: OperationalError | InterfaceError):
        log.error("database error on %s %s: %s", request.method, request.url.path, exc.orig)
        return JSONResponse(status_code=503, headers={"Retry-After": "5"}, content={
            "detail": "the database is unavailable right now; nothing was changed. Try again shortly."})
