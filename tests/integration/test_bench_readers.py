"""bench/api_load.py's readers: keep-alive asyncio connections against a live API, each answer read whole."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.api_load import reading_clients
from tests.live import LiveSystem


def read(*args):
    """In a thread of its own: this process may already run an event loop (Playwright's, in a browser test)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, reading_clients(*args)).result()


def test_the_benchmarks_readers_time_every_answer_and_refuse_an_error(tmp_path):
    with LiveSystem(tmp_path) as system:
        for interval in (0.0, 0.02):
            samples, elapsed = read(system.url, "/api/runs", {"order": "best"}, 3, 5, interval)
            assert len(samples) == 15 and all(0 < s < elapsed for s in samples)
        assert elapsed >= 4 * 0.02  # each client waited for its turns
        with pytest.raises(RuntimeError, match="HTTP 404"):
            read(system.url, "/api/runs/999", {}, 2, 1, 0.0)
