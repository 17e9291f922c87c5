"""docker-compose.yml's wiring, read as docker-compose itself reads it (`docker-compose config`, offline):
services, healthchecks, start order, GPU pinning, volumes, and the settings every process gets."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.engine import make_url

from .deployment import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    EXTRA_COMPOSE_FILES,
    PASSWORDS,
    ROOT,
    compose_config,
    gpu_reservations,
    gpu_workers,
    run_compose,
    seconds,
)

# Variables that docker-compose.yml reads for itself (the box, not ShakeLab's settings).
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "SHAKELAB_DASHBOARD_PORT", "SHAKELAB_MACHINE_NAME",
                "SHAKELAB_POSTGRES_HOST", "SHAKELAB_REDIS_HOST", "SHAKELAB_HEAD_ADDRESS", "SHAKELAB_NFS_SERVER",
                "SHAKELAB_NFS_RUNS_EXPORT", "SHAKELAB_WORKER0_GPUS"}
SECOND_BOX = {"SHAKELAB_HEAD_ADDRESS": "10.0.0.5", "SHAKELAB_NFS_SERVER": "10.0.0.9",
              "SHAKELAB_NFS_RUNS_EXPORT": "/srv/shakelab/runs"}


@pytest.fixture(scope="module")
def config() -> dict:
    return compose_config()


@pytest.fixture(scope="module")
def services(config) -> dict:
    return config["services"]


def _code_services(services: dict) -> dict[str, dict]:
    """The services that run ShakeLab's code (built from this repository)."""
    return {name: s for name, s in services.items() if "build" in s}


def _mounts(service: dict) -> dict[str, str]:
    """{container path: volume} of a service's mounts, in either of compose's notations."""
    out = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            out[volume["target"]] = volume["source"]
        else:
            source, target, *_ = volume.split(":")
            out[target] = source
    return out


def _ports(service: dict) -> list[tuple[str, int, int]]:
    """(host address or "", published port, container port) of a service, in either notation."""
    out = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            out.append((str(port.get("host_ip", "")), int(port["published"]), int(port["target"])))
        else:
            *address, published, target = port.split("/")[0].split(":")
            out.append((":".join(address), int(published), int(target)))
    return out


def _command(service: dict) -> list[str]:
    command = service["command"]
    return command.split() if isinstance(command, str) else [str(c) for c in command]


def _settings_fields() -> set[str]:
    from backend.settings import Settings

    return {f"SHAKELAB_{name.upper()}" for name in Settings.model_fields}


def settings_the_code_reads() -> set[str]:
    """Every SHAKELAB_ variable the code reads: the settings object's fields, and what the code reads from
    the environment by name (the engine reads SHAKELAB_DATA_DIR and SHAKELAB_HOME itself)."""
    names = _settings_fields()
    read = re.compile(r"""(?:environ\.get\(|environ\[|getenv\()\s*["'](SHAKELAB_[A-Z0-9_]+)""")
    for path in [*ROOT.glob("backend/**/*.py"), *ROOT.glob("worker/**/*.py")]:
        names |= set(read.findall(path.read_text()))
    return names


# ------------------------------------------------------------------------------------------ the file

def test_compose_file_validates_offline_gpu_reservations_included(services):
    result = run_compose("config", "--quiet", variables=PASSWORDS)
    assert result.returncode == 0, result.stderr
    assert gpu_workers(services)  # the reservations went through the schema check, not around it


def test_compose_refuses_to_start_until_both_passwords_are_set():
    as_copied = run_compose("config", "--quiet")  # .env.example copied to .env and not edited
    assert as_copied.returncode != 0 and "set POSTGRES_PASSWORD in .env" in as_copied.stderr
    half = run_compose("config", "--quiet", variables={"POSTGRES_PASSWORD": "pgsecret1"})
    assert half.returncode != 0 and "set REDIS_PASSWORD in .env" in half.stderr


def test_the_whole_system_is_in_the_file(services):
    assert {"postgres", "redis", "migrate", "api", "worker0", "download-cifar"} <= set(services)


def test_images_from_registries_are_pinned(services):
    pulled = [s["image"] for s in services.values() if "build" not in s]
    assert len(pulled) == 2  # postgres and redis
    for image in pulled:
        _, _, tag = image.partition(":")
        assert tag and tag != "latest" and tag[0].isdigit(), f"unpinned {image}"


def test_env_example_lists_every_variable_the_compose_files_read():
    read = {name for path in [COMPOSE_FILE, *(ROOT / f for f in EXTRA_COMPOSE_FILES)]
            for name in re.findall(r"\$\{([A-Z0-9_]+)", path.read_text())}
    listed = set(re.findall(r"^#?([A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert read - listed == set()
    # and nothing else: a misspelt setting there would be ignored without a word
    assert listed - read == {"COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES", "COMPOSE_FILE"}
    assert {name for name in read if name.startswith("SHAKELAB_")} <= _settings_fields() | COMPOSE_ONLY


# ------------------------------------------------------------------------------- PostgreSQL and Redis

def test_postgres_keeps_its_data_in_a_named_volume_and_reports_ready(config, services):
    postgres = services["postgres"]
    assert _mounts(postgres)["/var/lib/postgresql/data"] in config["volumes"]
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert postgres["restart"] == "unless-stopped"


def test_redis_appends_every_write_to_a_file_and_never_evicts(config, services):
    redis = services["redis"]
    command = _command(redis)
    options = dict(zip(command[1::2], command[2::2], strict=False))
    assert command[0] == "redis-server"
    assert options["--appendonly"] == "yes" and options["--maxmemory-policy"] == "noeviction"
    assert _mounts(redis)["/data"] in config["volumes"]
    assert "redis-cli ping" in " ".join(redis["healthcheck"]["test"])
    assert redis["restart"] == "unless-stopped"


def test_services_share_one_database_one_broker_and_one_queue(services):
    postgres, redis = services["postgres"]["environment"], _command(services["redis"])
    shared = ("SHAKELAB_DATABASE_URL", "SHAKELAB_BROKER_URL", "SHAKELAB_QUEUE", "SHAKELAB_HOME",
              "SHAKELAB_DATA_DIR", "SHAKELAB_RUNS_DIR")
    envs = [s["environment"] for s in _code_services(services).values()]
    for name in shared:
        assert len({env[name] for env in envs}) == 1, name
    database = make_url(envs[0]["SHAKELAB_DATABASE_URL"])
    assert (database.drivername, database.host, database.port) == ("postgresql+psycopg", "postgres", 5432)
    assert (database.username, database.password, database.database) == (
        postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"], postgres["POSTGRES_DB"])
    broker = make_url(envs[0]["SHAKELAB_BROKER_URL"])
    assert (broker.drivername, broker.host, broker.port) == ("redis", "redis", 6379)
    assert broker.password == redis[redis.index("--requirepass") + 1] == PASSWORDS["REDIS_PASSWORD"]


# ---------------------------------------------------------------------------------------- start order

def test_migrate_runs_once_postgres_is_healthy(services):
    migrate = services["migrate"]
    assert _command(migrate) == ["python", "-m", "backend", "migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate.get("restart", "no") == "no"


def test_api_and_workers_start_after_a_successful_migration_once_redis_is_healthy(services):
    for name in ["api", *gpu_workers(services)]:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["redis"]["condition"] == "service_healthy", name


# --------------------------------------------------------------------------------------------- the api

def test_api_is_published_on_its_port_and_checks_its_health_endpoint(services):
    api = services["api"]
    env = api["environment"]
    assert _command(api) == ["python", "-m", "backend", "api"]
    assert env["SHAKELAB_HOST"] == "0.0.0.0"
    assert _ports(api) == [("", 8000, int(env["SHAKELAB_PORT"]))]
    assert api["healthcheck"]["test"] == ["CMD", "python", "docker/healthcheck.py"]
    assert api["restart"] == "unless-stopped"


def test_dashboard_address_and_port_are_set_in_env():
    api = compose_config(SHAKELAB_DASHBOARD_PORT="127.0.0.1:9000")["services"]["api"]
    assert _ports(api) == [("127.0.0.1", 9000, 8000)]


def test_api_and_migrate_use_the_image_without_the_engine(services):
    assert {services[n]["build"]["dockerfile"] for n in ("api", "migrate")} == {"docker/api.Dockerfile"}
    workers = [*gpu_workers(services).values(), services["download-cifar"]]
    assert {w["build"]["dockerfile"] for w in workers} == {"docker/worker.Dockerfile"}


# ----------------------------------------------------------------------------------------- the workers

def test_each_gpu_worker_is_pinned_to_a_gpu_of_its_own(services):
    workers = gpu_workers(services)
    assert len(workers) >= 2
    pinned = {"worker0": "0"}
    # worker0 sees the box's GPUs by their own numbers and trains on SHAKELAB_WORKER0_GPUS, by default GPU 0.
    [reservation] = gpu_reservations(workers.pop("worker0"))
    assert reservation["driver"] == "nvidia" and reservation["count"] == "all" and "device_ids" not in reservation
    assert _command(services["worker0"]) == ["python", "-m", "worker", "--gpus", "0"]
    for name, worker in workers.items():
        [reservation] = gpu_reservations(worker)
        assert reservation["driver"] == "nvidia" and "count" not in reservation, name
        [gpu] = reservation["device_ids"]
        pinned[name] = gpu
        # inside the container its one GPU is index 0, whichever it is on the box; runs record the box's index
        assert _command(worker) == ["python", "-m", "worker", "--gpu", "0", "--gpu-label", gpu], name
    assert pinned == {f"worker{k}": str(k) for k in range(len(workers) + 1)}
    assert len({w["hostname"] for w in gpu_workers(services).values()}) == len(workers) + 1  # tells them apart


def test_worker0_owns_several_gpus_for_runs_on_several_gpus_when_the_env_names_them():
    services = compose_config(SHAKELAB_WORKER0_GPUS="0,1,2,3")["services"]
    assert _command(services["worker0"]) == ["python", "-m", "worker", "--gpus", "0,1,2,3"]
    assert seconds(services["worker0"]["stop_grace_period"]) >= 60
    assert services["worker0"]["shm_size"] in ("2gb", 2147483648, "2147483648")  # NCCL ranks share /dev/shm
    assert re.search(r"^#SHAKELAB_WORKER0_GPUS=", ENV_EXAMPLE.read_text(), re.MULTILINE)


def test_the_first_worker_always_runs_and_the_others_when_their_gpu_is_named(services):
    workers = gpu_workers(services)
    assert "profiles" not in workers["worker0"]
    assert {name: w["profiles"] for name, w in workers.items() if name != "worker0"} == {
        f"worker{k}": [f"gpu{k}"] for k in range(1, len(workers))}
    assert re.search(r"^COMPOSE_PROFILES=", ENV_EXAMPLE.read_text(), re.MULTILINE)


def test_workers_share_the_data_and_checkpoint_volumes(config, services):
    users = {**gpu_workers(services), "download-cifar": services["download-cifar"]}
    volumes = set()
    for name, service in users.items():
        env, mounts = service["environment"], _mounts(service)
        data, runs = mounts[env["SHAKELAB_DATA_DIR"]], mounts[env["SHAKELAB_RUNS_DIR"]]
        volumes.add((data, runs))
        assert data in config["volumes"] and runs in config["volumes"] and data != runs, name
    assert len(volumes) == 1  # the same two volumes for all: a requeued run resumes on any worker


def test_workers_stop_gracefully_and_come_back_by_themselves(services):
    for name, worker in gpu_workers(services).items():
        assert seconds(worker["stop_grace_period"]) >= 60, name  # engine stop (<= 10 s) and the release
        assert worker["init"] is True, name  # an init forwards SIGTERM and reaps the engine's children
        assert worker["restart"] == "unless-stopped", name


# ---------------------------------------------------------------------------------- several GPU boxes

def test_the_first_box_publishes_postgres_and_redis_on_its_private_address_only():
    first = compose_config(*EXTRA_COMPOSE_FILES, **SECOND_BOX)["services"]
    assert _ports(first["postgres"]) == [("10.0.0.5", 5432, 5432)]
    assert _ports(first["redis"]) == [("10.0.0.5", 6379, 6379)]
    without_address = run_compose("config", "--quiet", variables=PASSWORDS,
                                  files=("docker-compose.yml", "docker/head.yml"))
    assert without_address.returncode != 0 and "set SHAKELAB_HEAD_ADDRESS in .env" in without_address.stderr
    assert _ports(compose_config()["services"]["postgres"]) == []  # one box publishes neither


def test_every_box_keeps_the_checkpoints_on_one_nfs_export():
    runs = compose_config("docker/runs-on-nfs.yml", **SECOND_BOX)["volumes"]["runs"]
    assert runs["driver_opts"]["type"] == "nfs"
    assert runs["driver_opts"]["device"] == ":/srv/shakelab/runs"
    assert "addr=10.0.0.9" in runs["driver_opts"]["o"].split(",")


def test_a_second_box_points_its_workers_at_the_first(services):
    second = compose_config("docker/runs-on-nfs.yml", SHAKELAB_POSTGRES_HOST="10.0.0.5",
                            SHAKELAB_REDIS_HOST="10.0.0.5", SHAKELAB_MACHINE_NAME="gpubox2", **SECOND_BOX)
    for name, worker in gpu_workers(second["services"]).items():
        env = worker["environment"]
        assert make_url(env["SHAKELAB_DATABASE_URL"]).host == "10.0.0.5", name
        assert make_url(env["SHAKELAB_BROKER_URL"]).host == "10.0.0.5", name
        assert worker["hostname"] == f"gpubox2-gpu{name.removeprefix('worker')}"
        assert env["SHAKELAB_QUEUE"] == services[name]["environment"]["SHAKELAB_QUEUE"]
        assert _mounts(worker)[env["SHAKELAB_RUNS_DIR"]] == "runs"
    assert second["volumes"]["runs"]["driver_opts"]["type"] == "nfs"


# ------------------------------------------------------------------------------------------- settings

def test_every_setting_the_code_reads_is_set_for_every_process(services):
    needed = settings_the_code_reads()
    assert {"SHAKELAB_DATABASE_URL", "SHAKELAB_BROKER_URL", "SHAKELAB_DATA_DIR", "SHAKELAB_RUNS_DIR"} <= needed
    for name, service in _code_services(services).items():
        assert needed - set(service["environment"]) == set(), name


def test_compose_defaults_are_the_codes_defaults(services):
    """What .env leaves unset behaves as the code's own default (no second default drifting away)."""
    from backend.settings import Settings

    defaulted = dict(re.findall(r"\$\{(SHAKELAB_[A-Z0-9_]+):-([^}]*)\}", COMPOSE_FILE.read_text()))
    settings = {name: value for name, value in defaulted.items() if name not in COMPOSE_ONLY}
    assert "SHAKELAB_RUNS_PER_GPU" in settings and "SHAKELAB_STALE_AFTER_SECONDS" in settings
    for name, value in settings.items():
        field = name.removeprefix("SHAKELAB_").lower()
        default = Settings.model_fields[field].default
        parsed = getattr(Settings(_env_file=None, **{field: value}), field)
        assert parsed == default or (default is None and not parsed), f"{name}: compose {value!r}, code {default!r}"
        assert str(services["api"]["environment"][name]) == value, name  # and it is what the api gets
