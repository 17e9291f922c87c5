"""The one-time download of CIFAR-10 and CIFAR-100 into the workers' data volume ($SHAKELAB_DATA_DIR):

    docker compose run --rm download-cifar            # both
    docker compose run --rm download-cifar cifar10    # one

It is the engine's own `python -m worker.engine download` (the command `make download-cifar` runs), so the
files land exactly where training reads them, and torchvision checks every file's md5; files already there
are verified, not fetched again. Needs the internet; without it, copy the extracted folders
(cifar-10-batches-py, cifar-100-python) into the volume instead.
"""

from __future__ import annotations

import sys

from worker.engine.cli import main as engine_main


def main(argv: list[str] | None = None) -> int:
    """`python -m worker.engine download` (what `make download-cifar` runs), into $SHAKELAB_DATA_DIR."""
    return engine_main(["download", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
