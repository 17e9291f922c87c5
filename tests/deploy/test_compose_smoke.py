"""The containers' commands, run on this machine: the compose smoke test.

The commands and environments come from docker-compose.yml itself (through `docker-compose config`), so
these tests break when the file's commands or settings do. Moved to this machine are only what must be:
the addresses of PostgreSQL and Redis (this machine's, a fresh database and a queue of the test's own),
the volume paths (under the test's folder) and the api's port (8000 may be taken here). The api and the
migration run without any module that the api image lacks (the engine's torch, torchvision...), as in their
image.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.live import ROOT, TINY_SPEC, LiveSystem

from .deployment import compose_config, image_requirements, modules_outside, seconds, write_import_blocker

API_KEY = "smoke-test-key"
BOX_NAME = "gpubox.lab.example"  # the box's name, as .env's SHAKELAB_ALLOWED_HOSTS would list it


def on_this_machine(environment: dict, *, database_url: str, broker_url: str, home: Path) -> dict[str, str]:
    """A container's environment with the service addresses and volume paths moved to this machine."""
    env = {name: str(value) for name, value in environment.items()}
    assert make_url(env["SHAKELAB_DATABASE_URL"]).host == "postgres"
    assert make_url(env["SHAKELAB_BROKER_URL"]).host == "redis"
    env["SHAKELAB_DATABASE_URL"], env["SHAKELAB_BROKER_URL"] = database_url, broker_url
    container_home = env["SHAKELAB_HOME"]
    for name, value in env.items():
        if value == container_home or value.startswith(container_home + "/"):
            env[name] = str(home) + value[len(container_home):]
    del env["SHAKELAB_PORT"]  # LiveSystem's free port instead
    return env


def python_args(command: list[str]) -> tuple[str, ...]:
    """The arguments after `python`: the tests run them with this environment's interpreter."""
    assert command[0] == "python", command
    return tuple(str(c) for c in command[1:])


@dataclass
class Deployment:
    system: LiveSystem
    services: dict
    database_url: str
    broker_url: str
    api_image_env: dict[str, str]  # what makes a process here see only what the api image holds

    def env_of(self, service: str) -> dict[str, str]:
        return on_this_machine(self.services[service]["environment"], database_url=self.database_url,
                               broker_url=self.broker_url, home=self.system.home)

    def start_worker(self, service: str) -> subprocess.Popen:
        command = [str(c) for c in self.services[service]["command"]]
        assert command[:3] == ["python", "-m", "worker"], command
        return self.system.start_worker(*command[3:], env=self.env_of(service))

    def healthcheck(self) -> subprocess.CompletedProcess:
        test = self.services["api"]["healthcheck"]["test"]
        assert test[0] == "CMD", test
        return subprocess.run([sys.executable, *python_args(test[1:])], cwd=ROOT, capture_output=True, text=True,
                              env={**self.system.env, **self.api_image_env}, timeout=30)

    def launch(self, spec: dict) -> dict:
        response = self.system.post("/api/runs", json={"spec": spec},
                                    headers={"Authorization": f"Bearer {API_KEY}"})
        assert response.status_code == 201, response.text
        return response.json()

    def epochs(self, run_id: int) -> list[int]:
        response = self.system.get(f"/api/runs/{run_id}/metrics")
        assert response.status_code == 200, response.text
        return response.json()["epoch"]  # column-wise


@pytest.fixture(scope="module")
def api_image_blocker(tmp_path_factory) -> Path:
    absent = modules_outside(image_requirements())
    assert {"torch", "torchvision"} <= set(absent)
    blocker = write_import_blocker(tmp_path_factory.mktemp("api-image"), absent)
    probe = subprocess.run([sys.executable, "-c", "import backend.settings, torch"], cwd=ROOT, capture_output=True,
                           text=True, env={**os.environ, "PYTHONPATH": str(blocker)}, timeout=60)
    assert probe.returncode == 1 and "No module named 'torch' (not in this image)" in probe.stderr, probe.stderr
    return blocker


@pytest.fixture
def deployed(tmp_path, postgres_url, redis_queue, monkeypatch, api_image_blocker):
    """Migrated by the `migrate` service's command, the api started by the `api` service's command; the
    settings that .env would hold (the queue, an API key) set through compose's variables."""
    for name in list(os.environ):
        if name.startswith("SHAKELAB_"):  # only what the containers get
            monkeypatch.delenv(name)
    broker_url, queue = redis_queue
    services = compose_config(SHAKELAB_QUEUE=queue, SHAKELAB_API_KEY=API_KEY,
                              SHAKELAB_ALLOWED_HOSTS=BOX_NAME)["services"]
    env = on_this_machine(services["api"]["environment"], database_url=postgres_url, broker_url=broker_url,
                          home=tmp_path)
    assert env["SHAKELAB_QUEUE"] == queue and env["SHAKELAB_API_KEY"] == API_KEY
    assert env["SHAKELAB_ALLOWED_HOSTS"] == BOX_NAME
    system = LiveSystem(tmp_path, env=env)
    deployment = Deployment(system, services, postgres_url, broker_url,
                            {"PYTHONPATH": str(api_image_blocker)})
    try:
        migrate = subprocess.run([sys.executable, *python_args(services["migrate"]["command"])], cwd=ROOT,
                                 env={**system.env, **deployment.env_of("migrate"), **deployment.api_image_env},
                                 capture_output=True, text=True, timeout=120)
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        system.start_api(command=python_args(services["api"]["command"]), env=deployment.api_image_env)
        yield deployment
    finally:
        system.stop()


def test_compose_commands_run_a_tiny_run_end_to_end(deployed):
    system = deployed.system
    health = deployed.healthcheck()  # asks 127.0.0.1, which the box's allowed names leave answered
    assert health.returncode == 0, health.stdout + health.stderr
    assert system.get("/api/health").json()["database"] == "up"
    # SHAKELAB_ALLOWED_HOSTS from .env reached the api: the box's name is answered, a rebinding name is not
    assert system.get("/api/health", headers={"Host": f"{BOX_NAME}:8000"}).status_code == 200
    assert system.get("/api/health", headers={"Host": "attacker.example"}).status_code == 400
    # the API key from .env reached the api
    assert system.post("/api/runs", json={"spec": TINY_SPEC}).status_code == 401
    run = deployed.launch(TINY_SPEC)

    deployed.start_worker("worker0")
    done = system.wait_for_status(run["id"], "succeeded", "failed", timeout=180)
    assert done["status"] == "succeeded", done["error"]
    assert deployed.epochs(run["id"]) == [1, 2, 3]
    assert "/gpu0#" in done["worker"] and done["gpu"] == "0"  # `--gpu-label 0` of worker0's command
    # checkpoints land in SHAKELAB_RUNS_DIR, the runs volume's mount point
    runs_dir = Path(deployed.env_of("worker0")["SHAKELAB_RUNS_DIR"])
    assert runs_dir.is_relative_to(system.home) and (runs_dir / str(run["id"]) / "checkpoint.pt").is_file()


def test_a_stopped_worker_puts_its_run_back_and_another_worker_finishes_it(deployed):
    """`docker compose stop` (SIGTERM) ends a worker within its grace period; its run goes back to the
    queue and another worker finishes it, every epoch recorded once."""
    system = deployed.system
    epochs = 12
    run = deployed.launch({**TINY_SPEC, "optim": {**TINY_SPEC["optim"], "epochs": epochs}})
    first = deployed.start_worker("worker0")
    system.wait_until(lambda: system.run(run["id"])["epochs_done"] >= 2, 180, "two epochs on worker0")

    first.send_signal(signal.SIGTERM)
    grace = seconds(deployed.services["worker0"]["stop_grace_period"])
    assert first.wait(grace) == 0, system.log("worker0")
    stopped = system.run(run["id"])
    assert stopped["status"] == "queued", stopped
    assert 2 <= stopped["epochs_done"] < epochs

    deployed.start_worker("worker1")
    done = system.wait_for_status(run["id"], "succeeded", "failed", timeout=180)
    assert done["status"] == "succeeded", done["error"]
    assert deployed.epochs(run["id"]) == list(range(1, epochs + 1))
    assert done["attempts"] == 1  # a graceful stop uses up none of SHAKELAB_MAX_ATTEMPTS: restarts fail no run


def test_api_healthcheck_fails_while_the_database_is_down(tmp_path, monkeypatch, api_image_blocker):
    for name in list(os.environ):
        if name.startswith("SHAKELAB_"):
            monkeypatch.delenv(name)
    services = compose_config()["services"]
    env = on_this_machine(services["api"]["environment"], home=tmp_path,
                          database_url="postgresql+psycopg://shakelab:x@127.0.0.1:9/shakelab",  # nothing there
                          broker_url="redis://127.0.0.1:9/0")
    system = LiveSystem(tmp_path, env=env)
    deployment = Deployment(system, services, env["SHAKELAB_DATABASE_URL"], env["SHAKELAB_BROKER_URL"],
                            {"PYTHONPATH": str(api_image_blocker)})
    try:
        system.start_api(command=python_args(services["api"]["command"]), env=deployment.api_image_env)
        assert system.get("/api/health").status_code == 503
        health = deployment.healthcheck()
        assert health.returncode == 1 and "503" in health.stderr
    finally:
        system.stop()
    assert deployment.healthcheck().returncode == 1  # and while nothing answers at all
