"""The database engine, sessions, and migrations (Alembic; the app never calls create_all)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from .settings import Settings, get_settings

__all__ = ["make_engine", "get_engine", "session_scope", "read_scope", "migrate", "downgrade", "alembic_config"]

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # WAL lets the API read while a worker process writes; foreign keys are off by default in SQLite.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    connect_args = {"connect_timeout": 5} if url.startswith("postgresql") else {}
    engine = create_engine(url, pool_size=10, max_overflow=20, connect_args=connect_args)
    _ping_after_idle(engine)
    return engine


# A pooled connection unused for this long is tested before it is handed out (a database restarted meanwhile
# has closed it). SQLAlchemy's pool_pre_ping tests every checkout: a round trip and two autocommit switches,
# a quarter of a cached read's CPU at 20 concurrent clients, for connections that were in use milliseconds ago.
PING_AFTER_IDLE_SECONDS = 2.0


def _ping_after_idle(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _idle_from_now(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, record, _proxy):
        if time.monotonic() - record.info.get("idle_since", 0.0) <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            dbapi_connection.execute("SELECT 1")
            dbapi_connection.rollback()
        except Exception as error:  # the pool drops this connection and checks out another (three tries)
            raise DisconnectionError(f"a pooled connection was closed: {error}") from error


@lru_cache
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine(settings: Settings | None = None) -> Engine:
    return _engine_for((settings or get_settings()).resolved_database_url)


@lru_cache
def _sessionmaker_for(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine):
    """A session that commits on success and rolls back on any error."""
    session: Session = _sessionmaker_for(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@lru_cache
def _autocommit(engine: Engine) -> Engine:
    return engine.execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def read_scope(engine: Engine):
    """A session that only reads, each statement on its own: no BEGIN and COMMIT around it, two fewer round
    trips to PostgreSQL. On PostgreSQL (READ COMMITTED) each statement of a transaction sees new commits
    anyway, so a read sees nothing it would not have seen in one."""
    session: Session = _sessionmaker_for(_autocommit(engine))()
    try:
        yield session
    finally:
        session.close()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database to `revision`; concurrent callers on PostgreSQL wait on an advisory lock."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
