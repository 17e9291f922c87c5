"""The one-time download of CIFAR-10 and CIFAR-100 into the workers' data volume ($SHAKELAB_DATA_DIR):

    docker compose run --rm download-cifar            # both
    docker compose run --rm download-cifar cifar10    # one

It uses the engine's own loader, so the files land exactly where training reads them, and torchvision
checks every file's md5; files already there are verified, not fetched again. Needs the internet; without
it, copy the extracted folders (cifar-10-batches-py, cifar-100-python) into the volume instead.
"""

from __future__ import annotations

import argparse
import sys

from worker.engine.data import DataError, default_data_dir, load_cifar

DATASETS = ("cifar10", "cifar100")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="download_cifar.py", description="Fetch CIFAR into $SHAKELAB_DATA_DIR.")
    p.add_argument("datasets", nargs="*", metavar="{cifar10,cifar100}", help="default: both")
    args = p.parse_args(argv)
    for name in args.datasets:  # not `choices`: with nargs="*" it rejects an empty list on Python 3.11
        if name not in DATASETS:
            p.error(f"unknown dataset {name!r}: choose from {', '.join(DATASETS)}")
    root = default_data_dir()
    for name in args.datasets or DATASETS:
        try:
            data = load_cifar(name, root, download=True)
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        print(f"{name}: {len(data.train)} training and {len(data.test)} test images in {root}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
