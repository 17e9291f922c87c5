"""Request dependencies: a database session per request, and the API key on state-changing routes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from ..db import session_scope

# Ids are 32-bit on every database: larger ones are a 422, not an overflow deep in the driver.
MAX_ID = 2**31 - 1
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]

_bearer = HTTPBearer(auto_error=False, description="the server's SHAKELAB_API_KEY, when it has one")


def db_session(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.engine) as session:
        yield session


# scope="function": the session commits when the route returns, before the answer is sent. By default FastAPI
# runs a dependency's exit after sending the answer, so a client that reads again at once could miss the write.
Db = Annotated[Session, Depends(db_session, scope="function")]


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def require_api_key(request: Request, credentials: Credentials) -> None:
    key = request.app.state.settings.api_key
    if not key:
        return
    if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), key.encode()):
        raise HTTPException(401, "this server needs an API key: send 'Authorization: Bearer <SHAKELAB_API_KEY>'",
                            headers={"WWW-Authenticate": "Bearer"})


async def require_read_key(request: Request, credentials: Credentials) -> None:
    """Reads need the key too where the server protects them (SHAKELAB_PROTECT_READS, for shared networks).
    Async: a check this small would otherwise cost every read a hop through the thread pool."""
    if request.app.state.settings.protect_reads:
        require_api_key(request, credentials)


def wake_dispatcher(request: Request) -> None:
    if request.app.state.dispatcher is not None:
        request.app.state.dispatcher.wake()
