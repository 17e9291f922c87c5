"""A real ShakeLab on this machine for the tests: the API and workers as processes, talking over HTTP.

    with LiveSystem(tmp_path) as system:          # API on a free port, SQLite + embedded broker
        system.start_worker()
        run = system.post("/api/runs", json={"spec": TINY_SPEC}).json()
        system.wait_for_status(run["id"], "succeeded")

Pass `database_url=` / `broker_url=` for PostgreSQL and Redis. Timings are short (heartbeat 0.5 s, stale
after 4 s) so that the reliability tests run in seconds.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent

# A ShakeDrop PyramidNet that trains an epoch in well under a second on a CPU.
TINY_SPEC = {
    "dataset": {"name": "synthetic", "train_size": 64, "test_size": 32},
    "model": {"arch": "pyramidnet", "depth": 11, "alpha": 8, "bottleneck": True},
    "regularization": {"method": "shakedrop"},
    "optim": {"epochs": 3, "batch_size": 32},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveSystem:
    def __init__(self, home: Path, *, database_url: str | None = None, broker_url: str | None = None,
                 api_key: str | None = None, env: dict[str, str] | None = None):
        self.home = Path(home)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "SHAKELAB_HOME": str(self.home),
            "SHAKELAB_PORT": str(self.port),
            "SHAKELAB_HEARTBEAT_SECONDS": "0.5",
            "SHAKELAB_STALE_AFTER_SECONDS": "4",
            "SHAKELAB_DISPATCH_INTERVAL_SECONDS": "0.5",
            "SHAKELAB_BROKER_TIMEOUT_SECONDS": "1",
            "OMP_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        for name, value in (("DATABASE_URL", database_url), ("BROKER_URL", broker_url), ("API_KEY", api_key)):
            if value is not None:
                self.env[f"SHAKELAB_{name}"] = value
        self.env.update(env or {})
        self.api: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self.logs = self.home / "logs"

    # -------------------------------------------------------------------------------------- processes

    def _spawn(self, name: str, *args: str, env: dict | None = None) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "ab")
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, env={**self.env, **(env or {})},
                                stdout=log, stderr=subprocess.STDOUT)

    def start_api(self, command: tuple[str, ...] = ("-m", "backend", "api"), env: dict | None = None) -> None:
        self.api = self._spawn("api", *command, env=env)
        self.wait_until(self._answers, 60, "the API to answer")

    def start_worker(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        worker = self._spawn(f"worker{len(self.workers)}", "-m", "worker", *args, env=env)
        self.workers.append(worker)
        return worker

    def _answers(self) -> bool:
        if self.api is not None and self.api.poll() is not None:
            raise RuntimeError(f"the API exited with {self.api.returncode}:\n{self.log('api')}")
        try:
            return self.client.get("/api/health").status_code in (200, 503)
        except httpx.TransportError:
            return False

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    def stop(self) -> None:
        for process in [*self.workers, self.api]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*self.workers, self.api]:
            if process is not None:
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.client.close()

    def __enter__(self) -> LiveSystem:
        self.start_api()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -------------------------------------------------------------------------------------------- HTTP

    def get(self, path: str, **kw) -> httpx.Response:
        return self.client.get(path, **kw)

    def post(self, path: str, **kw) -> httpx.Response:
        return self.client.post(path, **kw)

    def run(self, run_id: int) -> dict:
        return self.get(f"/api/runs/{run_id}").json()

    def wait_until(self, condition, timeout: float, what: str, interval: float = 0.2):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(interval)
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.logs.glob("*.log")))
        raise TimeoutError(f"waited {timeout} s for {what}\n{logs}")

    def wait_for_status(self, run_id: int, *statuses: str, timeout: float = 120) -> dict:
        return self.wait_until(lambda: (r := self.run(run_id))["status"] in statuses and r,
                               timeout, f"run {run_id} to be {' or '.join(statuses)}")
