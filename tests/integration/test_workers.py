"""The whole system as processes: the API, Celery workers and the engine they run, over HTTP.

End to end on PostgreSQL + Redis and on the embedded defaults (`python -m backend run`), and each
reliability promise for real: cancel, a worker killed with SIGKILL, a worker stopped, the broker stopped
and restarted, a failing engine, two runs sharing one GPU slot.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.live import TINY_SPEC, LiveSystem, free_port

pytestmark = pytest.mark.slow


def long_spec(epochs: int = 40) -> dict:
    return {**TINY_SPEC, "optim": {"epochs": epochs, "batch_size": 32}}


def engine_pids(run_dir: Path) -> list[int]:
    """Engine processes training into run_dir (from /proc, so an orphan would be found too)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"worker.engine" in cmdline and str(run_dir).encode() in cmdline:
                pids.append(int(proc.name))
    return pids


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def metrics(system: LiveSystem, run_id: int) -> dict:
    return system.get(f"/api/runs/{run_id}/metrics").json()


@pytest.fixture
def postgres_redis(postgres_url, redis_queue, tmp_path):
    broker, queue = redis_queue
    with LiveSystem(tmp_path, database_url=postgres_url, broker_url=broker, env={"SHAKELAB_QUEUE": queue}) as system:
        yield system


@pytest.fixture
def embedded(tmp_path):
    with LiveSystem(tmp_path) as system:
        yield system


def test_a_shakedrop_pyramidnet_submitted_over_http_trains_in_a_celery_worker(postgres_redis):
    system = postgres_redis
    system.start_worker("--gpu", "0")  # no GPU here: CUDA_VISIBLE_DEVICES=0 hides nothing, the engine uses CPU
    r = system.post("/api/runs", json={"spec": TINY_SPEC, "name": "tiny shakedrop", "tags": ["e2e"]})
    assert r.status_code == 201
    run = system.wait_for_status(r.json()["id"], "succeeded", "failed", timeout=120)
    assert run["status"] == "succeeded", run["error"]
    assert (run["epochs_done"], run["attempts"], run["gpu"]) == (3, 1, "0")
    assert "/gpu0#" in run["worker"] and run["finished_at"] and run["images_per_second"] > 0
    m = metrics(system, run["id"])
    assert m["epoch"] == [1, 2, 3] and len(m["test_error"]) == 3 and m["lr"][0] > m["lr"][2]
    assert run["last_test_error"] == m["test_error"][-1] and run["best_test_error"] == min(m["test_error"])


def test_make_run_serves_api_worker_and_nas_controller_on_the_embedded_defaults_and_stops_on_ctrl_c(tmp_path):
    system = LiveSystem(tmp_path)
    system.start_api(command=("-m", "backend", "run"))
    try:
        health = system.get("/api/health").json()
        assert health["database_url"].startswith("sqlite") and health["broker_url"] == "filesystem://"
        run_id = system.post("/api/runs", json={"spec": TINY_SPEC}).json()["id"]
        assert system.wait_for_status(run_id, "succeeded", "failed", timeout=120)["status"] == "succeeded"
        assert (tmp_path / "shakelab.db").exists() and (tmp_path / "runs" / str(run_id) / "checkpoint.pt").exists()
        processes = [system.api.pid, *children(system.api.pid)]
        commands = sorted(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[2].decode() for pid in processes[1:])
        assert commands == ["worker", "worker.nas"]  # the API process, its worker and the NAS controller
        system.api.send_signal(signal.SIGINT)
        system.api.wait(30)
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
                  for pid in processes) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(Path(f"/proc/{pid}").exists() for pid in processes[1:]), system.log("api")
    finally:
        system.stop()


def test_cancel_stops_a_running_run_within_seconds(embedded):
    system = embedded
    system.start_worker()
    run_id = system.post("/api/runs", json={"spec": long_spec(400)}).json()["id"]
    system.wait_until(lambda: system.run(run_id)["epochs_done"] >= 1, 90, "a first epoch")
    asked = time.monotonic()
    assert system.post(f"/api/runs/{run_id}/cancel").status_code == 202
    run = system.wait_for_status(run_id, "cancelled", timeout=15)
    assert time.monotonic() - asked < 10
    assert run["error"] == "cancelled while running" and run["epochs_done"] < 400
    system.wait_until(lambda: not engine_pids(system.home / "runs" / str(run_id)), 15, "the engine to stop")


def test_a_worker_killed_mid_run_leaves_it_to_another_worker_which_resumes_from_the_checkpoint(postgres_redis):
    system = postgres_redis
    first = system.start_worker()
    run_id = system.post("/api/runs", json={"spec": long_spec(30)}).json()["id"]
    system.wait_until(lambda: system.run(run_id)["epochs_done"] >= 3, 90, "three epochs")
    run_dir = system.home / "runs" / str(run_id)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = metrics(system, run_id)
    # the engine dies with its worker: no orphan keeps training into the run directory
    system.wait_until(lambda: not engine_pids(run_dir), 10, "the orphaned engine to die")
    assert system.run(run_id)["status"] == "running"  # until its heartbeat goes stale

    system.start_worker()
    run = system.wait_for_status(run_id, "succeeded", "failed", timeout=180)
    assert run["status"] == "succeeded", run["error"]
    assert run["attempts"] == 2
    final = metrics(system, run_id)
    assert final["epoch"] == list(range(1, 31))  # every epoch exactly once
    done = len(killed_at["epoch"])
    for column in ("train_loss", "test_error", "lr"):  # what was recorded before the kill is untouched
        assert final[column][:done] == killed_at[column]
    # the second worker's engine resumed from the checkpoint rather than starting again
    resumed = [line for line in system.log("worker1").splitlines() if "resuming from" in line]
    assert len(resumed) == 1 and int(resumed[0].rsplit("after epoch ", 1)[1]) >= done


def test_a_stopped_worker_gives_its_run_back_and_it_finishes_elsewhere(embedded):
    system = embedded
    first = system.start_worker()
    run_id = system.post("/api/runs", json={"spec": long_spec(30)}).json()["id"]
    system.wait_until(lambda: system.run(run_id)["epochs_done"] >= 2, 90, "two epochs")
    first.send_signal(signal.SIGTERM)  # docker stop, Ctrl-C: Celery's warm shutdown
    first.wait(30)
    run = system.run(run_id)
    assert run["status"] == "queued" and "its worker stopped" in run["error"]  # at once, not when stale
    system.start_worker()
    run = system.wait_for_status(run_id, "succeeded", timeout=180)
    assert metrics(system, run_id)["epoch"] == list(range(1, 31))
    assert run["attempts"] == 1  # a graceful hand-back does not count against max_attempts


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own, which the test stops and starts again on the same port."""
    port = free_port()
    command = [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(tmp_path)]

    class OwnRedis:
        url = f"redis://127.0.0.1:{port}/0"
        process: subprocess.Popen | None = None

        def start(self):
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout != b"PONG\n":
                assert time.monotonic() < deadline, "redis did not start"
                time.sleep(0.1)

        def stop(self):
            self.process.terminate()
            self.process.wait(10)

    server = OwnRedis()
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


def test_runs_created_while_the_broker_is_down_are_dispatched_once_it_is_back(own_redis, tmp_path):
    with LiveSystem(tmp_path, broker_url=own_redis.url) as system:
        system.start_worker()
        assert system.get("/api/health").json()["broker"] == "up"
        own_redis.stop()
        r = system.post("/api/runs", json={"spec": TINY_SPEC})
        assert r.status_code == 201 and r.json()["status"] == "queued"
        health = system.get("/api/health")
        assert health.status_code == 200 and health.json()["broker"] == "down"
        time.sleep(2)
        assert system.run(r.json()["id"])["status"] == "queued"
        own_redis.start()
        run = system.wait_for_status(r.json()["id"], "succeeded", "failed", timeout=120)
        assert run["status"] == "succeeded", run["error"]
        assert system.get("/api/health").json()["broker"] == "up"


def test_a_failing_engine_ends_the_run_failed_with_its_reason(embedded):
    system = embedded
    system.start_worker()
    spec = {"dataset": {"name": "cifar10"}, "model": {"arch": "pyramidnet", "depth": 11, "alpha": 8},
            "regularization": {"method": "shakedrop"}, "optim": {"epochs": 2}}
    run_id = system.post("/api/runs", json={"spec": spec}).json()["id"]
    run = system.wait_for_status(run_id, "failed", "succeeded", timeout=90)
    assert run["status"] == "failed"
    assert "CIFAR-10" in run["error"] and str(system.home / "data") in run["error"], run["error"]


def test_two_runs_share_one_gpu_slot_with_runs_per_gpu(embedded):
    system = embedded
    system.start_worker("--runs-per-gpu", "2")
    ids = [system.post("/api/runs", json={"spec": long_spec(25)}).json()["id"] for _ in range(2)]
    system.wait_until(lambda: all(system.run(i)["status"] == "running" for i in ids), 60, "both runs running")
    for run_id in ids:
        assert system.wait_for_status(run_id, "succeeded", timeout=180)["epochs_done"] == 25


def test_the_documented_script_runs_a_seed_sweep_and_prints_final_errors(embedded, tmp_path):
    system = embedded
    system.start_worker()
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(TINY_SPEC))
    script = Path(__file__).resolve().parents[2] / "examples" / "seed_sweep.py"
    done = subprocess.run([sys.executable, str(script), "--url", system.url, "--spec", str(spec_file),
                           "--seeds", "2"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("seed 0: final test error") for line in lines)
    assert any(line.startswith("seed 1: final test error") for line in lines)
    assert lines[-1].startswith("mean ") and "over 2 seeds" in lines[-1]


def test_a_run_whose_checkpoint_is_not_on_this_worker_fails_instead_of_training_again(embedded):
    from backend.db import get_engine
    from backend.settings import Settings
    from backend.store import claim_run, record_epochs, release_run

    system = embedded
    run_id = system.post("/api/runs", json={"spec": long_spec(5)}).json()["id"]
    engine = get_engine(Settings(home=system.home))
    token = claim_run(engine, run_id, worker="elsewhere", gpu=None)  # trained on a box with its own disk
    record_epochs(engine, run_id, token, [{"epoch": 1, "train_loss": 2.0, "train_error": 80.0, "test_loss": 2.0,
                                          "test_error": 80.0, "lr": 0.1, "seconds": 1.0, "images_per_second": 64.0}])
    release_run(engine, run_id, token, "its worker stopped")
    system.start_worker()
    run = system.wait_for_status(run_id, "failed", "succeeded", timeout=60)
    assert run["status"] == "failed" and "checkpoint is not in" in run["error"] and "SHAKELAB_RUNS_DIR" in run["error"]
    assert metrics(system, run_id)["epoch"] == [1]


def test_the_api_knows_which_workers_are_alive(embedded):
    system = embedded
    assert system.get("/api/health").json()["workers"] == 0 and system.get("/api/workers").json() == []
    stopped = system.start_worker("--gpu", "0", "--gpu-label", "3", "--runs-per-gpu", "2")
    killed = system.start_worker()
    system.wait_until(lambda: system.get("/api/health").json()["workers"] == 2, 60, "two workers alive")
    workers = {w["name"].split("#")[0]: w for w in system.get("/api/workers").json()}
    labelled = next(w for name, w in workers.items() if name.endswith("/gpu3"))
    assert (labelled["gpu"], labelled["slots"], labelled["alive"]) == ("3", 2, True)

    stopped.send_signal(signal.SIGTERM)  # a graceful stop says so at once
    stopped.wait(30)
    system.wait_until(lambda: system.get("/api/health").json()["workers"] == 1, 10, "the stopped worker to leave")
    killed.send_signal(signal.SIGKILL)  # a killed one falls silent: not alive once its presence is stale
    killed.wait()
    system.wait_until(lambda: system.get("/api/health").json()["workers"] == 0, 15, "the killed worker to go stale")
    assert [w["alive"] for w in system.get("/api/workers").json()] == [False, False]
