"""Shared test setup: small, deterministic, and one torch thread per xdist worker (2 cores, 2 workers)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    # xdist (--dist loadgroup) hands out the groups first, largest first, then one test at a time in this order:
    # the minute-long ones first, so that none of them starts last while the other core has nothing left to do.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    try:
        import torch
    except ImportError:  # the backend's tests run without torch
        yield
        return
    torch.set_num_threads(1)
    yield


# ------------------------------------------------------------- real PostgreSQL and Redis for integration

POSTGRES_ADMIN_URL = os.environ.get("SHAKELAB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SHAKELAB_TEST_REDIS", "redis://127.0.0.1:6379")


@pytest.fixture
def postgres_url():
    """A fresh, empty PostgreSQL database on this machine's server, dropped after the test."""
    import uuid

    from sqlalchemy import create_engine, text

    name = f"shakelab_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    from backend.db import _engine_for
    _engine_for.cache_clear()  # close pooled connections of this process before dropping
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def redis_queue():
    """This machine's Redis and a queue name of this test's own (tests run in parallel on one Redis)."""
    import uuid

    return REDIS_URL + "/0", f"shakelab-test-{uuid.uuid4().hex[:12]}"
