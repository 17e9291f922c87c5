"""Print pyproject.toml's pinned requirements, one a line, for `pip install -r`.

    python docker/requirements.py          the base dependencies: the platform without torch (api image)
    python docker/requirements.py engine   plus the `engine` extra: PyTorch and the rest of training (worker)

The images install these before copying the code, so that a code change does not reinstall PyTorch, and
pyproject.toml stays the one place where versions are pinned.
"""

from __future__ import annotations

import sys
from pathlib import Path

import tomllib

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def requirements(extras: list[str]) -> list[str]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    unknown = sorted(set(extras) - set(optional))
    if unknown:
        raise SystemExit(f"error: pyproject.toml has no extra {', '.join(unknown)} (it has {', '.join(optional)})")
    return [*project["dependencies"], *(req for extra in extras for req in optional[extra])]


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1:])))
