"""The hot reads' keys, read on the event loop.

A repeat read of a run, its metrics, a runs list or a comparison (backend/read_cache.py) costs one small query
for its key and the sending of kept bytes. Run in the thread pool like the routes' other database work, that
query cost each read a hop to a worker thread and back, and SQLAlchemy's session around it: twice the work of
the query, which 20 readers at once queued behind (bench/api_load.py: one run at 285 req/s, 800 this way). On
PostgreSQL the keys are read here instead, on the event loop, through psycopg's async connections
(psycopg_pool); a kept answer then goes out without a thread.

Until the pool has an open connection (the database was down at start) and after a read failed on it (the
database went down), the same key is read the threaded way (backend/run_rows.py): a down database answers 503
at once as everywhere else, and one back up is read while the pool reconnects in the background. SQLite, which
has no async driver here, always reads that way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from time import monotonic
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from .. import run_rows
from ..db import read_scope

__all__ = ["KeyReads", "in_read_session"]

log = logging.getLogger(__name__)

# What run_rows.run_versions and run_rows.runs_generation read, in PostgreSQL's words.
_RUN_STATES = "SELECT id, version, status, epochs_done FROM runs WHERE id = ANY(%s)"
_GENERATION = "SELECT value FROM run_version_counter"

RECHECK_SECONDS = 5.0


class KeyReads:
    """The keys' queries: on a small async pool (PostgreSQL), else in a worker thread. `open` and `close` in
    the app's lifespan."""

    def __init__(self, engine: Engine, connections: int = 4):
        self.engine = engine
        self.pool: AsyncConnectionPool | None = None
        if engine.dialect.name == "postgresql":
            conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            # A read holds its connection for one round trip: a few serve 20 readers. All opened at start, not
            # while the first readers wait.
            self.pool = AsyncConnectionPool(conninfo, min_size=connections, max_size=connections, open=False,
                                            timeout=5,
                                            kwargs={"autocommit": True, "connect_timeout": 5,
                                                    "application_name": "shakelab-keys"},
                                            name="shakelab-keys")
        self._up = False  # the last read on the pool worked: wait for one of its connections
        self._checked = 0.0

    async def open(self) -> None:
        if self.pool is not None:
            await self.pool.open(wait=False)  # a database down at start: the threaded way meanwhile

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def run_states(self, ids: list[int]) -> dict[int, tuple]:
        """{id: (version, status, epochs_done)} of the runs of these ids that exist (run_rows.run_versions)."""
        return await self._read(_RUN_STATES, (ids,), lambda db: run_rows.run_versions(db, ids),
                                lambda rows: {row[0]: tuple(row[1:]) for row in rows})

    async def generation(self) -> int:
        """The count of committed changes of runs (run_rows.runs_generation)."""
        return await self._read(_GENERATION, (), run_rows.runs_generation, lambda rows: rows[0][0])

    async def _read(self, sql: str, params: tuple, threaded: Callable[[Session], Any],
                    from_rows: Callable[[list], Any]) -> Any:
        """`from_rows` of `sql`'s rows on the pool, or `threaded(session)` where the pool cannot answer."""
        if self.pool is not None and (self._up or self.pool.get_stats().get("pool_available", 0)):
            try:
                async with self.pool.connection() as connection:
                    cursor = await connection.execute(sql, params)
                    rows = await cursor.fetchall()
                self._up = True
                return from_rows(rows)
            except psycopg.OperationalError as error:  # PoolTimeout included; the pool drops a broken connection
                self._up = False
                log.warning("key read failed on the async pool (%s); reading keys the threaded way", error)
        result = await in_read_session(self.engine, threaded)
        if self.pool is not None and not self._up and monotonic() - self._checked > RECHECK_SECONDS:
            # The database answers: a pool that gave up reconnecting (psycopg_pool stops after its
            # reconnect_timeout) grows again from here.
            self._checked = monotonic()
            await self.pool.check()
        return result


async def in_read_session(engine: Engine, work: Callable[[Session], Any]) -> Any:
    """`work(session)` in a worker thread, on a session that only reads (backend/db.py read_scope)."""
    def run():
        with read_scope(engine) as db:
            return work(db)

    return await run_in_threadpool(run)
