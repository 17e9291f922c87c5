"""A CIFAR run on a machine that lacks CIFAR, through the real worker: the API, a Celery worker and its engine
as processes (tests/live.py). The worker downloads from a mirror of the test's own on 127.0.0.1
(tests/cifar_mirror.py), the run's answer shows the progress, and with SHAKELAB_DOWNLOAD_DATASETS=false the run
fails with a message that names the data directory and the command that downloads it."""

from __future__ import annotations

import time

import pytest

from tests.cifar_mirror import CifarMirror
from tests.live import TINY_SPEC, LiveSystem

pytestmark = pytest.mark.slow

CIFAR_SPEC = {**TINY_SPEC, "dataset": {"name": "cifar10"}, "optim": {"epochs": 2, "batch_size": 32}}


def cifar10(system: LiveSystem) -> dict:
    return next(d for d in system.get("/api/datasets").json() if d["name"] == "cifar10")


def wait_for_worker(system: LiveSystem) -> None:
    system.wait_until(lambda: cifar10(system)["state"] != "no_workers", 60, "the worker to report its datasets")


def test_the_worker_downloads_a_missing_cifar_and_the_run_shows_the_progress(tmp_path):
    data_dir = tmp_path / "data"
    with CifarMirror(tmp_path / "mirror", "cifar10", seconds=4) as mirror, \
            LiveSystem(tmp_path / "home",
                       env={**mirror.subprocess_env(), "SHAKELAB_DATA_DIR": str(data_dir)}) as system:
        system.start_worker()
        wait_for_worker(system)
        assert cifar10(system)["message"] == ("CIFAR-10 will be downloaded by the worker (163 MB) before the "
                                              "first epoch.")
        run_id = system.post("/api/runs", json={"spec": CIFAR_SPEC}).json()["id"]
        seen = []
        deadline = time.monotonic() + 120
        while (run := system.run(run_id))["status"] in ("queued", "running") and time.monotonic() < deadline:
            if run["download"]:
                seen.append(run["download"]["message"])
            time.sleep(0.1)
        assert run["status"] == "succeeded", run["error"] or system.log("worker0")
        assert run["epochs_done"] == 2 and run["download"] is None
        assert seen and all(m.startswith("downloading CIFAR-10: ") and m.endswith("%") for m in seen)
        assert any(int(m.removeprefix("downloading CIFAR-10: ")[:-1]) < 100 for m in seen)
        assert mirror.fetches == 1
        system.wait_until(lambda: cifar10(system)["state"] == "present", 10, "the worker to report CIFAR-10")
        assert cifar10(system)["message"] == "CIFAR-10 is on the workers."


def test_with_downloads_off_a_missing_cifar_fails_the_run_naming_the_directory_and_the_command(tmp_path):
    data_dir = tmp_path / "data"
    with CifarMirror(tmp_path / "mirror", "cifar10") as mirror, \
            LiveSystem(tmp_path / "home", env={**mirror.subprocess_env(), "SHAKELAB_DATA_DIR": str(data_dir),
                                               "SHAKELAB_DOWNLOAD_DATASETS": "false"}) as system:
        system.start_worker()
        wait_for_worker(system)
        assert cifar10(system)["state"] == "missing"
        run_id = system.post("/api/runs", json={"spec": CIFAR_SPEC}).json()["id"]
        run = system.wait_for_status(run_id, "succeeded", "failed", timeout=60)
        assert run["status"] == "failed"
        assert run["error"].startswith(f"CIFAR-10 is not in {data_dir} and this worker does not download datasets "
                                       "(SHAKELAB_DOWNLOAD_DATASETS=false)")
        assert f"`python -m worker.engine download cifar10 --data-dir {data_dir}`" in run["error"]
        assert mirror.fetches == 0 and not data_dir.exists()
