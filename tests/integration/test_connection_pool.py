"""The API's PostgreSQL pool tests a connection only after it sat idle (backend/db.py): a connection the server
closed meanwhile is replaced without the request seeing it; one in use moments ago is handed out as it is."""

from __future__ import annotations

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from backend import db


def backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(text("SELECT pg_backend_pid()"))


def terminate(admin, pid: int) -> None:
    with admin.connect() as connection:
        assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


@pytest.fixture
def engines(postgres_url):
    engine, admin = db.make_engine(postgres_url), create_engine(postgres_url)
    yield engine, admin
    engine.dispose()
    admin.dispose()


def test_an_idle_connection_closed_by_the_server_is_replaced_unseen(engines, monkeypatch):
    engine, admin = engines
    first = backend_pid(engine)
    terminate(admin, first)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # idle long enough: tested at checkout
    assert backend_pid(engine) not in (first, None)


def test_a_connection_used_moments_ago_is_not_tested(engines, monkeypatch):
    engine, admin = engines
    terminate(admin, backend_pid(engine))
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    with pytest.raises(OperationalError):  # no round trip before it: the query meets the closed connection
        backend_pid(engine)
    assert backend_pid(engine)  # the pool dropped it on that error: the next checkout connects anew


def test_a_read_scope_sends_no_begin_or_commit_and_a_write_scope_still_does(engines):
    """Hot reads cost one round trip per statement: no transaction is open around them."""
    engine, _ = engines
    with db.read_scope(engine) as session:
        assert session.scalar(text("SELECT 1")) == 1
        assert session.connection().connection.dbapi_connection.info.transaction_status == TransactionStatus.IDLE
    with db.session_scope(engine) as session:
        assert session.scalar(text("SELECT 1")) == 1
        assert session.connection().connection.dbapi_connection.info.transaction_status == TransactionStatus.INTRANS
    with engine.connect() as connection:  # the pooled connection went back with its usual isolation
        connection.scalar(text("SELECT 1"))
        assert connection.connection.dbapi_connection.autocommit is False
