"""`python -m worker.engine`: train a run spec on this machine, check a spec, or print the spec's schema.

Every expected failure (bad spec, missing data, diverged loss, a run directory that holds another run)
ends with one line naming the problem and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .spec import RunSpec, SpecError, parse_spec

EXIT_BAD_INPUT = 2
EXIT_DATA = 3
EXIT_DIVERGED = 4


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
    from .training import RunDirError, TrainingDiverged, train

    def print_event(row: dict) -> None:
        print(json.dumps(row), flush=True)

    try:
        train(spec, args.out, data_dir=args.data_dir, download=args.download, device=args.device,
              compile=args.compile, compile_mode=args.compile_mode, stop_after=args.stop_after,
              progress=not args.no_progress,
              on_epoch=print_event if args.events else None)
    except DataError as exc:
        raise CliError(str(exc), EXIT_DATA) from None
    except TrainingDiverged as exc:
        raise CliError(str(exc), EXIT_DIVERGED) from None
    except RunDirError as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None


def _validate(args) -> None:
    print(_read_spec(args.spec).model_dump_json(indent=2))


def _schema(args) -> None:
    print(json.dumps(RunSpec.model_json_schema(), indent=2))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m worker.engine",
                                description="ShakeLab's training engine: Shake-Shake, ShakeDrop, stochastic "
                                "depth and ScheduledDropPath on CIFAR.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train SPEC.json into DIR (resumes DIR's checkpoint)")
    t.add_argument("spec", metavar="SPEC.json")
    t.add_argument("--out", required=True, metavar="DIR", help="run directory: spec, checkpoint, metrics")
    t.add_argument("--data-dir", metavar="DIR",
                   help="datasets (default: $SHAKELAB_DATA_DIR, else $SHAKELAB_HOME/data)")
    t.add_argument("--download", action="store_true", help="download CIFAR if missing (needs internet)")
    t.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")
    t.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile the model (default: on CUDA, not on the CPU)")
    t.add_argument("--compile-mode", choices=["default", "reduce-overhead", "max-autotune"],
                   help="torch.compile's mode; reduce-overhead uses CUDA graphs (small nets, small batches)")
    t.add_argument("--stop-after", type=int, metavar="EPOCH", help="stop once this epoch is recorded")
    t.add_argument("--events", action="store_true", help="print each epoch's metrics as a JSON line")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(run=_train)

    v = sub.add_parser("validate", help="check SPEC.json and print it with the papers' defaults filled in")
    v.add_argument("spec", metavar="SPEC.json")
    v.set_defaults(run=_validate)

    s = sub.add_parser("schema", help="print the run spec's JSON schema")
    s.set_defaults(run=_schema)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
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
