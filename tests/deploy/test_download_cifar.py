"""The one-time CIFAR download (`docker compose run --rm download-cifar`): it fills the volume that the
workers read their data from, verifies what is already there instead of fetching it again, and says what
went wrong when it cannot download."""

from __future__ import annotations

import importlib.util

import pytest

from tests.cifar_files import trust_files, write_cifar10, write_cifar100

from .deployment import DOCKER_DIR, compose_config, gpu_workers


def _download_script():
    spec = importlib.util.spec_from_file_location("download_cifar", DOCKER_DIR / "download_cifar.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def services() -> dict:
    return compose_config()["services"]


@pytest.fixture
def no_internet(monkeypatch):
    import urllib.request

    fetched = []

    def refuse(request, *args, **kwargs):
        fetched.append(request.full_url)
        raise OSError(f"no route to {request.full_url}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return fetched


def test_the_download_service_writes_where_the_workers_read(services):
    download = services["download-cifar"]
    assert [str(c) for c in download["command"]] == ["python", "docker/download_cifar.py"]
    data_dir = download["environment"]["SHAKELAB_DATA_DIR"]
    mount = next(v for v in download["volumes"] if str(v).split(":")[1] == data_dir)
    for name, worker in gpu_workers(services).items():
        assert worker["environment"]["SHAKELAB_DATA_DIR"] == data_dir, name
        assert mount in worker["volumes"], name
    assert download["profiles"] == ["tools"]  # never started by a plain `docker compose up`


def test_datasets_already_in_the_volume_are_verified_not_fetched(tmp_path, monkeypatch, capsys, no_internet):
    from torchvision.datasets import CIFAR10, CIFAR100

    trust_files(monkeypatch, CIFAR10, write_cifar10(tmp_path, per_file=4))
    trust_files(monkeypatch, CIFAR100, write_cifar100(tmp_path, per_file=6))
    monkeypatch.setenv("SHAKELAB_DATA_DIR", str(tmp_path))
    assert _download_script().main([]) == 0
    out = capsys.readouterr().out
    assert f"cifar10: 20 training and 4 test images in {tmp_path}" in out
    assert f"cifar100: 6 training and 6 test images in {tmp_path}" in out
    assert no_internet == []


def test_without_internet_it_says_what_to_put_where(tmp_path, monkeypatch, capsys, no_internet):
    monkeypatch.setenv("SHAKELAB_DATA_DIR", str(tmp_path))
    assert _download_script().main(["cifar10"]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"error: CIFAR-10 could not be downloaded into {tmp_path}")
    assert "cifar-10-batches-py" in err and len(no_internet) == 1


def test_unknown_dataset_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        _download_script().main(["imagenet"])
    assert exit_.value.code == 2 and "unknown dataset 'imagenet'" in capsys.readouterr().err
