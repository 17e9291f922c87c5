"""Whether the workers have each dataset, as the API says it before a run is queued (GET /api/datasets, GET
/api/workers), and a running run's download progress (GET /api/runs/{id}), from the reports that workers
write with their presence (worker/presence.py)."""

from __future__ import annotations

from backend.store import claim_run, worker_stopped
from tests.cifar_files import write_cifar10
from tests.live import TINY_SPEC
from worker.presence import Presence


def presence(platform, name: str, data_dir, *, may_download: bool) -> Presence:
    worker = Presence(platform.engine, name, gpu=None, slots=1, data_dir=data_dir, may_download=may_download)
    worker.beat()
    return worker


def availability(platform) -> dict[str, dict]:
    answer = platform.client.get("/api/datasets")
    assert answer.status_code == 200
    return {d["name"]: d for d in answer.json()}


def test_without_workers_nothing_is_known_but_bundled_datasets_need_nothing(platform):
    datasets = availability(platform)
    assert datasets["cifar10"]["state"] == "no_workers"
    assert datasets["cifar10"]["message"] == "No worker is running, so whether one has CIFAR-10 is not known yet."
    assert datasets["digits"]["state"] == datasets["synthetic"]["state"] == "bundled"
    assert datasets["digits"]["message"] is None


def test_a_dataset_on_every_worker_is_said_to_be_there(platform, tmp_path):
    write_cifar10(tmp_path / "a")
    write_cifar10(tmp_path / "b")
    presence(platform, "a#1", tmp_path / "a", may_download=False)
    presence(platform, "b#2", tmp_path / "b", may_download=True)
    datasets = availability(platform)
    assert datasets["cifar10"] == {
        "name": "cifar10", "label": "CIFAR-10", "state": "present", "message": "CIFAR-10 is on the workers.",
        "workers": 2, "workers_with": 2, "download_bytes": 170_498_071}
    assert datasets["cifar100"]["state"] == "missing"  # worker a lacks it and may not fetch it
    assert datasets["cifar100"]["message"].startswith("CIFAR-100 is missing on 1 of 2 workers, which may not "
                                                      "download it: a run one of them takes fails.")


def test_a_missing_dataset_that_workers_may_fetch_will_be_downloaded(platform, tmp_path):
    presence(platform, "a#1", tmp_path / "empty", may_download=True)
    cifar10 = availability(platform)["cifar10"]
    assert cifar10["state"] == "download" and cifar10["workers_with"] == 0
    assert cifar10["message"] == "CIFAR-10 will be downloaded by the worker (163 MB) before the first epoch."
    assert availability(platform)["cifar100"]["message"] == ("CIFAR-100 will be downloaded by the worker (161 MB) "
                                                             "before the first epoch.")


def test_a_missing_dataset_with_downloads_off_says_which_command_fetches_it(platform, tmp_path):
    presence(platform, "a#1", tmp_path / "empty", may_download=False)
    cifar10 = availability(platform)["cifar10"]
    assert cifar10["state"] == "missing"
    assert cifar10["message"].startswith("No worker has CIFAR-10 and downloads are off: run `make download-cifar`")


def test_workers_that_lack_it_and_may_not_fetch_it_are_a_warning_even_if_others_have_it(platform, tmp_path):
    write_cifar10(tmp_path / "a")
    presence(platform, "a#1", tmp_path / "a", may_download=False)
    presence(platform, "b#2", tmp_path / "empty", may_download=False)
    cifar10 = availability(platform)["cifar10"]
    assert cifar10["state"] == "missing" and cifar10["workers_with"] == 1
    assert cifar10["message"].startswith("CIFAR-10 is missing on 1 of 2 workers")


def test_stopped_workers_do_not_count(platform, tmp_path):
    write_cifar10(tmp_path / "a")
    presence(platform, "a#1", tmp_path / "a", may_download=False)
    presence(platform, "b#2", tmp_path / "empty", may_download=False)
    worker_stopped(platform.engine, "b#2")
    assert availability(platform)["cifar10"]["state"] == "present"


def test_the_workers_list_carries_each_report(platform, tmp_path):
    write_cifar10(tmp_path / "a")
    presence(platform, "a#1", tmp_path / "a", may_download=False)
    [worker] = platform.client.get("/api/workers").json()
    assert worker["datasets"] == {
        "data_dir": str(tmp_path / "a"), "download": False,
        "datasets": {"cifar10": {"present": True, "download_bytes": 170_498_071},
                     "cifar100": {"present": False, "download_bytes": 169_001_437}},
        "downloads": []}


def test_a_running_runs_download_shows_in_its_answer_until_it_is_over(platform, tmp_path):
    run = platform.client.post("/api/runs", json={"spec": {**TINY_SPEC, "dataset": {"name": "cifar10"}}}).json()
    assert run["download"] is None
    worker = presence(platform, "a#1", tmp_path / "empty", may_download=True)
    assert claim_run(platform.engine, run["id"], worker="a", gpu=None)
    worker.download_progress(run["id"], {"dataset": "cifar10", "bytes": 73_314_170, "total": 170_498_071})
    download = platform.client.get(f"/api/runs/{run['id']}").json()["download"]
    assert download["message"] == "downloading CIFAR-10: 43%"
    assert (download["bytes"], download["total"]) == (73_314_170, 170_498_071)
    assert download["percent"] == 100 * 73_314_170 / 170_498_071
    worker.download_progress(run["id"], None)
    assert platform.client.get(f"/api/runs/{run['id']}").json()["download"] is None
