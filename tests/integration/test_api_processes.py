"""SHAKELAB_API_PROCESSES: several API processes on one port (uvicorn workers), each with its own dispatcher,
on PostgreSQL and Redis: every request answered, every run published once, and no process left after a stop."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from tests.live import TINY_SPEC, LiveSystem

pytestmark = pytest.mark.slow


def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended meanwhile
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def serving_processes(api_pid: int) -> list[int]:
    """uvicorn's workers: the API's children started by multiprocessing's spawn."""
    return [pid for pid in children_of(api_pid)
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_two_api_processes_answer_on_one_port_and_publish_each_run_once(tmp_path, postgres_url, redis_queue):
    broker, queue = redis_queue
    live = LiveSystem(tmp_path, database_url=postgres_url, broker_url=broker,
                      env={"SHAKELAB_QUEUE": queue, "SHAKELAB_API_PROCESSES": "2"})
    queued = redis.Redis.from_url(broker)
    try:
        live.start_api()
        workers = serving_processes(live.api.pid)
        assert len(workers) == 2, live.log("api")

        def submit(k: int) -> int:
            response = live.post("/api/runs", json={"spec": {**TINY_SPEC, "seed": k}})
            assert response.status_code == 201, response.text
            return response.json()["id"]

        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(submit, range(20)))
        assert len(set(ids)) == 20
        live.wait_until(lambda: queued.llen(queue) >= 20, 30, "the 20 runs to be published")
        time.sleep(2)  # four more passes of each dispatcher (0.5 s apart): none publishes a run again
        assert queued.llen(queue) == 20
        runs = live.get("/api/runs", params={"limit": 100}).json()["runs"]
        assert sorted(r["id"] for r in runs) == sorted(ids)
    finally:
        queued.delete(queue)
        if live.api is not None:
            workers = serving_processes(live.api.pid)
            live.api.send_signal(signal.SIGTERM)
            assert live.api.wait(30) == 0, live.log("api")
            for pid in workers:  # a stop leaves no serving process behind
                with pytest.raises(ProcessLookupError):
                    os.kill(pid, 0)
        live.stop()
