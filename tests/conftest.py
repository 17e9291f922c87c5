"""Shared test setup: small, deterministic, and one torch thread per xdist worker (2 cores, 2 workers)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    try:
        import torch
    except ImportError:  # the backend's tests run without torch
        yield
        return
    torch.set_num_threads(1)
    yield
