"""Errors as clear JSON: 422 naming each bad field, 404 for unknown ids, 503 when the database is away."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError

from worker.engine.spec import SpecError, readable_error_list

from ..store import NotFound

log = logging.getLogger("shakelab.api")


def _unprocessable(details: list[dict]) -> JSONResponse:
    """FastAPI's 422 shape (`detail[].loc`, `msg`), plus `field`: the dotted path inside the body."""
    return JSONResponse(status_code=422, content={"detail": details})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = list(exc.errors())
        details = []
        for err, readable in zip(errors, readable_error_list(errors), strict=False):
            where, _, field = readable["field"].partition(".")
            details.append({"loc": [where, *field.split(".")] if field else [where], "field": field or where,
                            "msg": readable["message"], "type": err.get("type", "value_error")})
        return _unprocessable(details)

    @app.exception_handler(SpecError)
    async def _bad_spec(request: Request, exc: SpecError):
        return _unprocessable([{"loc": ["body", *e["field"].split(".")], "field": e["field"], "msg": e["message"],
                                "type": "spec"} for e in exc.errors])

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_down(request: Request, exc: OperationalError | InterfaceError):
        log.error("database error on %s %s: %s", request.method, request.url.path, exc.orig)
        return JSONResponse(status_code=503, headers={"Retry-After": "5"}, content={
            "detail": "the database is unavailable right now; nothing was changed. Try again shortly."})
