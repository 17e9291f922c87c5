"""`python -m worker.engine`: train a run spec on this machine, download CIFAR, check a spec, or print the
spec's schema. `torchrun --standalone --nproc-per-node=K -m worker.engine train ...` trains one run on K
processes (K GPUs, or K CPU processes with gloo).

Every expected failure (bad spec, missing data, diverged loss, a run directory that holds another run)
ends with one line naming the problem and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from .dataset_files import FILE_DATASETS
from .spec import RunSpec, SpecError, parse_spec

EXIT_BAD_INPUT = 2
EXIT_DATA = 3
EXIT_DIVERGED = 4
DOWNLOAD_EVENT_SECONDS = 0.5


class CliError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def _read_spec(path: str) -> RunSpec:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise CliError(f"cannot read spec {path}: {exc.strerror}", EXIT_BAD_INPUT) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                       EXIT_BAD_INPUT) from None
    try:
        return parse_spec(data)
    except SpecError as exc:
        raise CliError(f"{path}: invalid spec: {exc}", EXIT_BAD_INPUT) from None


def _train(args) -> None:
    spec = _read_spec(args.spec)
    # torch is imported only now: `validate` and `schema` stay instant.
    from .data import DataError
    from .training import PlacementError, RunDirError, TrainingDiverged, train

    def print_event(row: dict) -> None:
        print(json.dumps(row), flush=True)

    on_download = None
    if args.download and spec.dataset.name in FILE_DATASETS:
        on_download = (_download_events(spec.dataset.name) if args.events
                       else None if args.no_progress else _download_bar(spec.dataset.name))
    try:
        train(spec, args.out, data_dir=args.data_dir, download=args.download, device=args.device,
              compile=args.compile, compile_mode=args.compile_mode, stop_after=args.stop_after,
              progress=not args.no_progress,
              on_epoch=print_event if args.events else None, on_download=on_download)
    except DataError as exc:
        raise CliError(str(exc), EXIT_DATA) from None
    except TrainingDiverged as exc:
        raise CliError(str(exc), EXIT_DIVERGED) from None
    except (RunDirError, PlacementError) as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None


def _download(args) -> None:
    from .data import DataError, default_data_dir, download_cifar, load_cifar

    root = Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
    for name in args.datasets or FILE_DATASETS:
        try:
            download_cifar(name, root, on_progress=None if args.no_progress else _download_bar(name))
            data = load_cifar(name, root)
        except DataError as exc:
            raise CliError(str(exc), EXIT_DATA) from None
        print(f"{name}: {len(data.train)} training and {len(data.test)} test images in {root}", flush=True)


def _download_events(name: str):
    """Progress as `{"event": "download", ...}` lines among the epoch events, at most twice a second."""
    last = -DOWNLOAD_EVENT_SECONDS

    def report(done: int, total: int | None) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= DOWNLOAD_EVENT_SECONDS or done == total:
            last = now
            print(json.dumps({"event": "download", "dataset": name, "bytes": done, "total": total}), flush=True)
    return report


def _download_bar(name: str):
    """A progress bar on stderr, opened at the first byte."""
    from tqdm import tqdm

    bar = None

    def report(done: int, total: int | None) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {FILE_DATASETS[name].title}")
        bar.update(done - bar.n)
        if done == total:
            bar.close()
    return report


def _validate(args) -> None:
    print(_read_spec(args.spec).model_dump_json(indent=2))


def _schema(args) -> None:
    print(json.dumps(RunSpec.model_json_schema(), indent=2))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m worker.engine",
                                description="ShakeLab's training engine: Shake-Shake, ShakeDrop, stochastic "
                                "depth and ScheduledDropPath on CIFAR.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train SPEC.json into DIR (resumes DIR's checkpoint); under torchrun, one "
                       "run on all its processes")
    t.add_argument("spec", metavar="SPEC.json")
    t.add_argument("--out", required=True, metavar="DIR", help="run directory: spec, checkpoint, metrics")
    t.add_argument("--data-dir", metavar="DIR",
                   help="datasets (default: $SHAKELAB_DATA_DIR, else $SHAKELAB_HOME/data)")
    t.add_argument("--download", action="store_true", help="download CIFAR if missing (needs internet)")
    t.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")
    t.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile the model (default: on CUDA; on a CPU for runs of 20,000 steps or more)")
    t.add_argument("--compile-mode", choices=["default", "reduce-overhead", "max-autotune"],
                   help="torch.compile's mode; reduce-overhead uses CUDA graphs (small nets, small batches)")
    t.add_argument("--stop-after", type=int, metavar="EPOCH", help="stop once this epoch is recorded")
    t.add_argument("--events", action="store_true", help="print each epoch's metrics as a JSON line")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(run=_train)

    d = sub.add_parser("download", help="fetch CIFAR-10/100 into the data directory (files already there and "
                       "intact are kept)")
    d.add_argument("datasets", nargs="*", metavar="{cifar10,cifar100}", help="default: both")
    d.add_argument("--data-dir", metavar="DIR",
                   help="where workers read datasets (default: $SHAKELAB_DATA_DIR, else $SHAKELAB_HOME/data)")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.set_defaults(run=_download)

    v = sub.add_parser("validate", help="check SPEC.json and print it with the papers' defaults filled in")
    v.add_argument("spec", metavar="SPEC.json")
    v.set_defaults(run=_validate)

    s = sub.add_parser("schema", help="print the run spec's JSON schema")
    s.set_defaults(run=_schema)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    for name in getattr(args, "datasets", None) or ():  # not `choices`: with nargs="*" it rejects no names
        if name not in FILE_DATASETS:
            p.error(f"unknown dataset {name!r}: choose from {', '.join(FILE_DATASETS)}")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        args.run(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume from the last checkpoint", file=sys.stderr)
        return 130
    return 0
