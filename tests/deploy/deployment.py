"""The deployment as Docker would see it, readable without a Docker engine.

`docker-compose config` (Debian's docker-compose 1.29) validates docker-compose.yml offline against the
Compose schema, GPU reservations included, fills in the variables from .env and the YAML anchors, and
prints the model each container would get: the tests read that. The Dockerfiles and .dockerignore are read
the way `docker build` reads them.
"""

from __future__ import annotations

import importlib.util
import os
import posixpath
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
# The files to add over it for several boxes (docs/deploy.md).
EXTRA_COMPOSE_FILES = ("docker/head.yml", "docker/runs-on-nfs.yml")
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"
DOCKER_DIR = ROOT / "docker"

# What a first deployment puts in .env besides what .env.example already holds.
PASSWORDS = {"POSTGRES_PASSWORD": "pgsecret1", "REDIS_PASSWORD": "redissecret1"}
# The shell's variables that would change how compose reads the file: not the tests' business.
_COMPOSE_INPUTS = ("SHAKELAB_", "COMPOSE_", "POSTGRES_", "REDIS_", "DOCKER_")


# ------------------------------------------------------------------------------------------- compose

def docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:  # CI installs it: a missing one is a failure, not a skip
        pytest.fail("docker-compose is not installed: `bash scripts/system-deps.sh` installs Debian's package")
    return path


def run_compose(*args: str, variables: dict[str, str] | None = None,
                files: tuple[str, ...] = ("docker-compose.yml",)) -> subprocess.CompletedProcess:
    """docker-compose on this checkout's `files`, with .env.example as the .env and `variables` set in the
    shell (which, as on a real box, win over the file)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_COMPOSE_INPUTS)}
    env.update(variables or {})
    return subprocess.run([docker_compose(), "--project-directory", str(ROOT),
                           *(arg for f in files for arg in ("-f", str(ROOT / f))),
                           "--env-file", str(ENV_EXAMPLE), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def compose_config(*extra_files: str, **variables: str) -> dict:
    """The resolved model of docker-compose.yml (and `extra_files` over it) with the passwords set and
    `variables` in .env."""
    result = run_compose("config", variables={**PASSWORDS, **variables},
                         files=("docker-compose.yml", *extra_files))
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


def gpu_workers(services: dict) -> dict[str, dict]:
    """The services that hold a GPU reservation, by name."""
    return {name: s for name, s in services.items() if gpu_reservations(s)}


def gpu_reservations(service: dict) -> list[dict]:
    devices = service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
    return [d for d in devices if "gpu" in d.get("capabilities", [])]


def seconds(duration: str | int) -> float:
    """A compose duration ("2m", "1m30s", "90s", 90) in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a compose duration: {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


# ------------------------------------------------------------------------------- pyproject's requirements

def _requirements_module():
    spec = importlib.util.spec_from_file_location("docker_requirements", DOCKER_DIR / "requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def image_requirements(*extras: str) -> list[str]:
    """What an image's `python docker/requirements.py EXTRAS` hands to pip."""
    return _requirements_module().requirements(list(extras))


def distribution_closure(requirements: list[str]) -> set[str]:
    """The distributions pip installs for `requirements`: them and their dependencies, read from this
    environment's metadata (which holds the same pinned versions)."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[tuple[str, frozenset]] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        for line in metadata.distribution(req.name).requires or []:
            dep = Requirement(line)
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in (req.extras or {""})):
                todo.append(dep)
    return {name for name, _ in seen}


def modules_outside(requirements: list[str], project: str = "shakelab") -> list[str]:
    """Top-level modules installed here that an image built from `requirements` (and the project) lacks."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    allowed = distribution_closure(requirements) | {project}
    return sorted(module for module, dists in metadata.packages_distributions().items()
                  if not any(canonicalize_name(d) in allowed for d in dists))


def write_import_blocker(folder: Path, modules: list[str]) -> Path:
    """A sitecustomize.py in `folder` that makes `modules` unimportable: put `folder` on PYTHONPATH and a
    process here sees only what an image without them holds."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "import sys\n"
        f"_ABSENT = frozenset({sorted(modules)!r})\n\n\n"
        "class _NotInThisImage:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in _ABSENT:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r} (not in this image)', name=name)\n"
        "        return None\n\n\n"
        "sys.meta_path.insert(0, _NotInThisImage())\n")
    return folder


# ---------------------------------------------------------------------------------------- .dockerignore

def _pattern_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as Docker's matcher reads it: `**` any number of directories, `*` and `?`
    within one path element, `[...]` a class."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):  # "**/" matches zero or more leading directories
                i += 1
                out += "(?:.*/)?"
            else:
                out += ".*"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.index("]", i)
            out += "[" + pattern[i + 1:end].replace("!", "^", 1) + "]"
            i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


@dataclass
class DockerIgnore:
    rules: list[tuple[bool, re.Pattern]] = field(default_factory=list)  # (is an exception, pattern)

    @classmethod
    def read(cls, path: Path = DOCKERIGNORE) -> DockerIgnore:
        rules = []
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = os.path.normpath(line.removeprefix("!").strip()).strip("/")
            rules.append((negate, _pattern_regex(pattern)))
        return cls(rules)

    def excludes(self, path: str) -> bool:
        """Whether `path` (relative to the context) stays out of the build context. As in Docker, a pattern
        that matches a parent directory matches everything under it, and the last matching pattern wins."""
        parts = path.strip("/").split("/")
        prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        excluded = False
        for negate, regex in self.rules:
            if any(regex.match(p) for p in prefixes):
                excluded = not negate
        return excluded


def context_files(ignore: DockerIgnore | None = None) -> set[str]:
    """The files of this checkout that `docker build .` sends, relative to the root."""
    ignore = ignore or DockerIgnore.read()
    files = set()
    for folder, dirs, names in os.walk(ROOT):
        rel_folder = Path(folder).relative_to(ROOT)
        dirs[:] = [d for d in dirs if d not in (".git", ".venv")]  # large, and never meant to be sent
        for name in names:
            rel = (rel_folder / name).as_posix()
            if not ignore.excludes(rel):
                files.add(rel)
    return files


# ------------------------------------------------------------------------------------------ Dockerfiles

@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    def argv(self) -> list[str]:
        """The arguments as a list: the JSON (exec) form as written, the shell form split like sh."""
        text = self.args.strip()
        if text.startswith("["):
            return yaml.safe_load(text)
        return shlex.split(text)


def read_dockerfile(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile, continuation lines joined and comments dropped."""
    instructions, pending, start = [], "", 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):  # a comment inside a continued instruction
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        keyword, _, args = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
    assert not pending, f"{path}: the last instruction ends with a continuation"
    return instructions


def files_needed_by(argv: list[str]) -> list[str]:
    """The files of this repository that a command runs: the `python -m MODULE`'s module and every
    relative path it names (a script, a requirements file...)."""
    needed = []
    for i, token in enumerate(argv):
        if i > 0 and argv[i - 1] == "-m":
            base = token.replace(".", "/")
            needed.append(f"{base}/__main__.py" if (ROOT / base).is_dir() else f"{base}.py")
        elif not token.startswith(("-", "/", "$")) and re.search(r"\.(py|toml|txt|cfg|ini|sh)$", token):
            needed.append(token)
    return needed


@dataclass
class Image:
    """A Dockerfile's image, as far as this repository's files go: where COPY puts them, step by step."""
    dockerfile: Path
    instructions: list[Instruction]

    @classmethod
    def read(cls, dockerfile: Path) -> Image:
        return cls(dockerfile, read_dockerfile(dockerfile))

    def state_before(self, index: int, context: set[str]) -> tuple[str, set[str]]:
        """(the WORKDIR, the absolute paths of the repository's files in the image) once the instructions
        before `index` ran. `context` is what the build context holds (after .dockerignore)."""
        workdir, files = "/", set()
        for ins in self.instructions[:index]:
            if ins.keyword == "WORKDIR":
                workdir = posixpath.normpath(posixpath.join(workdir, ins.args))
            elif ins.keyword in ("COPY", "ADD"):
                args = [a for a in ins.argv() if not a.startswith("--")]
                *sources, dest = args
                target = posixpath.normpath(posixpath.join(workdir, dest))
                into_folder = dest.endswith("/") or dest in (".", "./") or len(sources) > 1
                for source in sources:
                    source = posixpath.normpath(source)
                    if source == ".":
                        copied = {path: path for path in context}
                    elif source in context:  # one file
                        copied = {source: posixpath.basename(source) if into_folder else ""}
                    else:  # a folder: its contents go into the target
                        copied = {path: path[len(source) + 1:] for path in context if path.startswith(source + "/")}
                    files |= {posixpath.join(target, inner) if inner else target for inner in copied.values()}
        return workdir, files

    def missing(self, argv: list[str], index: int, context: set[str]) -> list[str]:
        """The files that `argv`, run after the instructions before `index`, needs and does not find."""
        workdir, files = self.state_before(index, context)
        return [rel for rel in files_needed_by(argv) if posixpath.normpath(posixpath.join(workdir, rel)) not in files]
