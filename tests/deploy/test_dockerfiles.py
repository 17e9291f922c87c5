"""The Dockerfiles and .dockerignore: every file a build or a container command uses is in the image when
it is used, base images are pinned, and the api image is built without the training engine."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .deployment import (
    DOCKER_DIR,
    ROOT,
    DockerIgnore,
    Image,
    compose_config,
    context_files,
    files_needed_by,
    image_requirements,
    read_dockerfile,
)

DOCKERFILES = sorted(DOCKER_DIR.glob("*.Dockerfile"))


def _requirement_names(requirements: list[str]) -> set[str]:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    return {canonicalize_name(Requirement(r).name) for r in requirements}


@pytest.fixture(scope="module")
def context() -> set[str]:
    return context_files()


@pytest.fixture(scope="module")
def services() -> dict:
    return compose_config()["services"]


def test_there_is_an_api_and_a_worker_dockerfile():
    assert {p.name for p in DOCKERFILES} == {"api.Dockerfile", "worker.Dockerfile"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_base_image_is_pinned(dockerfile):
    bases = [ins.argv()[0] for ins in read_dockerfile(dockerfile) if ins.keyword == "FROM"]
    assert bases
    for base in bases:
        name, _, tag = base.partition(":")
        assert tag and tag != "latest" and any(c.isdigit() for c in tag), f"{dockerfile.name}: unpinned {base}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_copied_path_exists_in_the_build_context(dockerfile, context):
    for ins in read_dockerfile(dockerfile):
        if ins.keyword not in ("COPY", "ADD"):
            continue
        *sources, _dest = [a for a in ins.argv() if not a.startswith("--")]
        for source in sources:
            reaches = source == "." or source in context or any(p.startswith(source.rstrip("/") + "/")
                                                                for p in context)
            assert reaches, f"{dockerfile.name}:{ins.line}: COPY {source}: not in the build context"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_file_a_build_step_runs_is_copied_before_it(dockerfile, context):
    image = Image.read(dockerfile)
    runs = [(i, ins) for i, ins in enumerate(image.instructions) if ins.keyword == "RUN"]
    assert runs
    for i, ins in runs:
        needed = files_needed_by(ins.argv())
        assert all((ROOT / path).is_file() for path in needed), f"{dockerfile.name}:{ins.line}: {needed}"
        assert not image.missing(ins.argv(), i, context), f"{dockerfile.name}:{ins.line}: not copied yet"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_image_default_command_finds_its_files(dockerfile, context):
    image = Image.read(dockerfile)
    commands = [ins for ins in image.instructions if ins.keyword in ("CMD", "ENTRYPOINT")]
    assert commands
    for ins in commands:
        assert files_needed_by(ins.argv()), f"{ins.args} names no file of this repository"
        assert not image.missing(ins.argv(), len(image.instructions), context)


def test_every_compose_command_finds_its_files_in_its_image(services, context):
    """The services' commands and healthchecks run files of this repository: each is in the image."""
    checked = 0
    for name, service in services.items():
        if "build" not in service:
            continue
        dockerfile = ROOT / service["build"]["dockerfile"]
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
        image = Image.read(dockerfile)
        commands = [service["command"], *([service["healthcheck"]["test"][1:]] if "healthcheck" in service else [])]
        for argv in commands:
            needed = files_needed_by(argv)
            assert needed and all((ROOT / path).is_file() for path in needed), f"{name}: {argv}"
            assert not image.missing(argv, len(image.instructions), context), f"{name}: {argv}"
            checked += 1
    assert checked >= 5  # migrate, api (command and healthcheck), a worker, download-cifar


def test_build_context_holds_the_code_and_the_files_it_reads_beside_it(context):
    from backend.api import FRONTEND
    from backend.db import MIGRATIONS

    needed = ["pyproject.toml", "README.md", "docker/requirements.py", "docker/healthcheck.py",
              "docker/download_cifar.py", "backend/__main__.py", "worker/__main__.py", "worker/engine/cli.py",
              "migrations/env.py"]
    assert set(needed) <= context
    # The app reads migrations/ and frontend/ (when there is one) beside its packages: whole in the image.
    assert MIGRATIONS.is_dir()
    for folder in (MIGRATIONS, FRONTEND):
        on_disk = {p.relative_to(ROOT).as_posix() for p in folder.rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts}
        assert on_disk <= context, sorted(on_disk - context)


@pytest.mark.parametrize("path", [".env", ".venv/bin/python", ".git/HEAD", "runs/3/checkpoint.pt",
                                  "data/cifar-10-batches-py/data_batch_1", ".shakelab/shakelab.db",
                                  "tests/conftest.py", "backend/__pycache__/db.cpython-312.pyc"])
def test_build_context_leaves_out_secrets_and_local_state(path):
    assert DockerIgnore.read().excludes(path)


@pytest.mark.parametrize(("patterns", "path", "excluded"), [
    ("*\n!backend/", "backend/api/__init__.py", False),
    ("*\n!backend/", "bench/engine.py", True),
    ("*/temp*", "somedir/temporary.txt", True),
    ("*/temp*", "temporary.txt", False),
    ("**/*.go", "a/b/c.go", True),
    ("**/*.go", "c.go", True),
    ("*.md\n!README*.md\nREADME-secret.md", "README-secret.md", True),
    ("*.md\n!README*.md\nREADME-secret.md", "README.md", False),
    ("temp?", "temp1/file", True),
])
def test_dockerignore_reader_follows_dockers_rules(tmp_path, patterns, path, excluded):
    """The examples of Docker's .dockerignore reference, so that the checks above read the file as
    Docker does."""
    (tmp_path / ".dockerignore").write_text(patterns + "\n")
    assert DockerIgnore.read(tmp_path / ".dockerignore").excludes(path) is excluded


def test_api_image_installs_the_platform_without_the_engine():
    api = [ins.args for ins in read_dockerfile(DOCKER_DIR / "api.Dockerfile") if "requirements.py" in ins.args]
    worker = [ins.args for ins in read_dockerfile(DOCKER_DIR / "worker.Dockerfile") if "requirements.py" in ins.args]
    assert any("python docker/requirements.py >" in a for a in api)
    assert any("python docker/requirements.py engine >" in a for a in worker)
    base, engine = _requirement_names(image_requirements()), _requirement_names(image_requirements("engine"))
    assert "torch" not in base and "torchvision" not in base
    assert {"torch", "torchvision"} <= engine and base < engine


def test_requirements_script_prints_pyprojects_pins():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    printed = subprocess.run([sys.executable, "docker/requirements.py", "engine"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.split()
    assert printed == project["dependencies"] + project["optional-dependencies"]["engine"]
    unknown = subprocess.run([sys.executable, "docker/requirements.py", "gpu"], cwd=ROOT,
                             capture_output=True, text=True)
    assert unknown.returncode != 0 and "no extra gpu" in unknown.stderr
