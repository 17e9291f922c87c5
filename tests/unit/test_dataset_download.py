"""Fetching a missing CIFAR: from an HTTP server of the test's own on 127.0.0.1 (tests/cifar_mirror.py), through
torchvision's checksums, once per data directory however many runs ask at the same time."""

from __future__ import annotations

import json
import threading

import pytest
import torch
from torchvision.datasets import CIFAR10, CIFAR100

from tests.cifar_files import trust_files, write_cifar10
from tests.cifar_mirror import CifarMirror
from worker.engine import cli
from worker.engine.data import DataError, download_cifar, load_cifar
from worker.engine.dataset_files import FILE_DATASETS, is_present


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    with CifarMirror(tmp_path / "mirror", "cifar10", per_file=8) as served:
        served.trust(monkeypatch)
        yield served


@pytest.fixture
def slow_mirror(tmp_path, monkeypatch):
    with CifarMirror(tmp_path / "mirror", "cifar10", per_file=8, seconds=1.5) as served:
        served.trust(monkeypatch)
        yield served


@pytest.mark.parametrize("cls", [CIFAR10, CIFAR100])
def test_the_file_table_names_what_torchvision_reads(cls):
    files = next(f for f in FILE_DATASETS.values() if f.folder == cls.base_folder)
    assert files.archive == cls.filename
    assert set(files.files) == {n for n, _ in cls.train_list + cls.test_list} | {cls.meta["filename"]}


def test_a_missing_cifar_is_fetched_checked_and_extracted(mirror, tmp_path):
    data_dir = tmp_path / "data"
    progress = []
    assert download_cifar("cifar10", data_dir, on_progress=lambda done, total: progress.append((done, total)))
    assert mirror.fetches == 1 and is_present("cifar10", data_dir)
    assert progress[0] == (0, len(mirror.body)) and progress[-1] == (len(mirror.body), len(mirror.body))
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    data = load_cifar("cifar10", data_dir)
    assert torch.equal(data.train.images, torch.from_numpy(mirror.written.train_images))
    assert torch.equal(data.test.labels, torch.from_numpy(mirror.written.test_labels))
    leftovers = sorted(p.name for p in data_dir.iterdir() if not p.name.endswith(".lock"))
    assert leftovers == ["cifar-10-batches-py"]  # the archive and its partial file are gone


def test_files_already_in_place_are_checked_not_fetched(mirror, tmp_path):
    data_dir = tmp_path / "data"
    download_cifar("cifar10", data_dir)
    assert download_cifar("cifar10", data_dir) is False
    assert load_cifar("cifar10", data_dir, download=True).num_classes == 10
    assert mirror.fetches == 1


def test_a_data_directory_that_holds_the_files_is_read_without_a_lock(mirror, tmp_path, monkeypatch):
    written = write_cifar10(tmp_path / "data", per_file=8)
    trust_files(monkeypatch, CIFAR10, written)  # the tiny files, not the mirror's
    assert download_cifar("cifar10", written.root) is False
    assert mirror.fetches == 0 and sorted(p.name for p in written.root.iterdir()) == ["cifar-10-batches-py"]


def test_a_corrupt_file_is_fetched_again(mirror, tmp_path):
    data_dir = tmp_path / "data"
    download_cifar("cifar10", data_dir)
    damaged = data_dir / "cifar-10-batches-py" / "data_batch_4"
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\x01")
    assert download_cifar("cifar10", data_dir) is True
    assert mirror.fetches == 2 and len(load_cifar("cifar10", data_dir).train) == 40


def test_two_downloads_at_once_fetch_once(slow_mirror, tmp_path):
    data_dir = tmp_path / "data"
    fetched, errors = [], []

    def download():
        try:
            fetched.append(download_cifar("cifar10", data_dir))
        except Exception as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=download) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(fetched) == [False, True]  # one fetched, the other waited and found the files
    assert slow_mirror.fetches == 1
    assert len(load_cifar("cifar10", data_dir).train) == 40


def test_an_archive_that_does_not_match_its_md5_is_refused_and_removed(mirror, tmp_path, monkeypatch):
    monkeypatch.setattr(CIFAR10, "tgz_md5", "0" * 32)
    data_dir = tmp_path / "data"
    with pytest.raises(DataError) as exc:
        download_cifar("cifar10", data_dir)
    assert str(exc.value) == (f"CIFAR-10 could not be downloaded into {data_dir}: {mirror.expected['url']} sent a "
                              "file that does not match its md5 checksum; try again, or without internet, put the "
                              "folder cifar-10-batches-py (from cifar-10-python.tar.gz) there")
    assert not is_present("cifar10", data_dir)
    assert not [p for p in data_dir.iterdir() if not p.name.endswith(".lock")]


def test_the_download_command_fetches_into_the_data_dir(mirror, tmp_path, capsys):
    data_dir = tmp_path / "data"
    assert cli.main(["download", "cifar10", "--data-dir", str(data_dir), "--no-progress"]) == 0
    assert capsys.readouterr().out == f"cifar10: 40 training and 8 test images in {data_dir}\n"
    assert is_present("cifar10", data_dir) and mirror.fetches == 1


def test_the_download_command_refuses_an_unknown_dataset(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["download", "imagenet"])
    assert exit_.value.code == 2 and "unknown dataset 'imagenet'" in capsys.readouterr().err


def test_training_with_download_prints_progress_events_before_the_epochs(slow_mirror, tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"dataset": {"name": "cifar10"},
                                "model": {"arch": "resnet", "depth": 8}, "regularization": {"method": "none"},
                                "optim": {"epochs": 1, "batch_size": 20}}))
    code = cli.main(["train", str(spec), "--out", str(tmp_path / "run"), "--data-dir", str(tmp_path / "data"),
                     "--download", "--events", "--no-progress", "--device", "cpu"])
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    downloads = [e for e in events if e.get("event") == "download"]
    assert downloads and all(e["dataset"] == "cifar10" and e["total"] == len(slow_mirror.body) for e in downloads)
    assert downloads[-1]["bytes"] == len(slow_mirror.body)
    assert len(downloads) >= 3  # a 1.5 s download reports at least every half second
    assert [e["epoch"] for e in events if "event" not in e] == [1]
    assert events.index(downloads[-1]) < len(events) - 1  # the epoch comes after the download
