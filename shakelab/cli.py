"""The `shakelab` command: ShakeLab from the shell and from job scripts, through the REST API.

    shakelab submit spec.json --seeds 3 --wait     # exit 0 only if every run succeeded
    shakelab runs --status running
    shakelab metrics 12 --csv > run12.csv

`--url` and `--api-key` default to $SHAKELAB_URL and $SHAKELAB_API_KEY. Errors are one line on stderr, and
the exit code says what happened (EXIT below), so a script can test it.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from .client import (
    Client,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    ServerUnavailable,
    ShakeLabError,
    Unauthorized,
)

EXIT = {
    "ok": 0,
    "run did not succeed": 1,  # --wait: a run ended failed, cancelled or pruned
    "bad input": 2,  # usage, an unreadable spec file, or a 422 from the server
    "not found": 3,
    "not allowed": 4,  # 401 (no or wrong key) or 403
    "server unavailable": 5,
    "conflict": 6,  # 409: e.g. deleting a run that still trains
    "other error": 7,
}
EXIT_FOR_ERROR = ((InvalidRequest, "bad input"), (NotFound, "not found"), (Unauthorized, "not allowed"),
                  (Forbidden, "not allowed"), (ServerUnavailable, "server unavailable"), (Conflict, "conflict"))


class UsageError(Exception):
    """Bad input found before any request: exit 2."""


# ------------------------------------------------------------------------------------------- output

def emit_json(value) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}%"


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def print_runs(runs) -> None:
    print_table(["ID", "STATUS", "EPOCHS", "LAST TEST ERR", "NAME"],
                [[str(r.id), r.status, f"{r.epochs_done}/{r.epochs}", percent(r.last_test_error), r.name]
                 for r in runs])


def print_run(run) -> None:
    lines = [
        ("run", f"#{run.id} {run.name}"),
        ("status", run.status + (" (archived)" if run.archived_at else "")),
        ("model", f"{run.arch} · {run.method} · {run.dataset} · seed {run.seed}"),
        ("epochs", f"{run.epochs_done} of {run.epochs}"),
        ("last test error", percent(run.last_test_error)),
        ("best test error", percent(run.best_test_error) + " (an epoch chosen on the test set)"),
    ]
    if run.last_val_error is not None:
        lines.append(("last val error", percent(run.last_val_error)))
    lines += [("tags", ", ".join(run.tags) or "-"), ("worker", run.worker or "-")]
    if run.error:
        lines.append(("reason" if run.status != "failed" else "error", run.error))
    if run.notes:
        lines.append(("notes", run.notes))
    for label, value in lines:
        print(f"{label + ':':<17}{value}")


# ----------------------------------------------------------------------------------------- commands

def read_spec(path: str) -> dict:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read the spec file {path}: {exc.strerror}") from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    if not isinstance(spec, dict):
        raise UsageError(f"{path} must hold a run spec, a JSON object like {{\"model\": {{...}}, ...}}")
    return spec


def wait_all(client: Client, run_ids: list[int], quiet: bool) -> int:
    ended = [client.wait(run_id, progress=not quiet) for run_id in run_ids]
    for run in ended:
        if run.status != "succeeded":
            print(f"run #{run.id} ended {run.status}: {run.error or 'no reason recorded'}", file=sys.stderr)
    return EXIT["ok"] if all(r.status == "succeeded" for r in ended) else EXIT["run did not succeed"]


def cmd_submit(client: Client, args) -> int:
    spec = read_spec(args.spec)
    if args.seeds < 1:
        raise UsageError("--seeds must be 1 or more")
    if args.seeds == 1:
        runs = [client.submit(spec, name=args.name, tags=args.tag, notes=args.notes, gpus=args.gpus)]
    else:
        first = int(spec.get("seed", 0))
        name = args.name or (Path(args.spec).stem if args.spec != "-" else "experiment")
        runs = client.submit_experiment(spec, name=name, seeds=range(first, first + args.seeds), tags=args.tag,
                                        notes=args.notes, gpus=args.gpus).runs
    if args.json:
        emit_json(runs)
    else:
        for run in runs:
            print(f"queued run #{run.id} {run.name}  {client.url}/#/runs/{run.id}")
    return wait_all(client, [r.id for r in runs], args.quiet) if args.wait else EXIT["ok"]


def cmd_runs(client: Client, args) -> int:
    page = client.runs(status=args.status, tag=args.tag, arch=args.arch, method=args.method, dataset=args.dataset,
                       search=args.search, archived=None if args.archived == "any" else args.archived == "yes",
                       limit=args.limit)
    if args.json:
        emit_json(page)
    else:
        print_runs(page.runs)
        if page.total > len(page.runs):
            print(f"({len(page.runs)} of {page.total} shown; --limit for more)")
    return EXIT["ok"]


def cmd_show(client: Client, args) -> int:
    run = client.run(args.id)
    emit_json(run) if args.json else print_run(run)
    return EXIT["ok"]


def cmd_metrics(client: Client, args) -> int:
    metrics = client.metrics(args.id)
    if args.json:
        emit_json(metrics)
        return EXIT["ok"]
    columns = {name: values for name, values in metrics.model_dump().items() if isinstance(values, list)}
    writer = csv.writer(sys.stdout, lineterminator="\n", delimiter="," if args.csv else "\t")
    writer.writerow(columns)
    writer.writerows(zip(*columns.values(), strict=True))
    return EXIT["ok"]


def cmd_cancel(client: Client, args) -> int:
    for run_id in args.ids:
        run = client.cancel(run_id)
        print(f"run #{run.id}: {'cancelled' if run.status == 'cancelled' else 'cancel asked; it stops within seconds'}"
              if run.status in ("cancelled", "running") else f"run #{run.id} had already ended {run.status}")
    return EXIT["ok"]


def cmd_edit(client: Client, args) -> int:
    if args.name is None and args.tag is None and args.notes is None:
        raise UsageError("say what to change: --name, --tag (repeat it; the new set of tags) or --notes")
    run = client.edit(args.id, name=args.name, tags=args.tag, notes=args.notes)
    emit_json(run) if args.json else print_run(run)
    return EXIT["ok"]


def cmd_archive(client: Client, args) -> int:
    for run_id in args.ids:
        run = client.archive(run_id) if args.command == "archive" else client.restore(run_id)
        print(f"run #{run.id} {'archived' if run.archived_at else 'restored'}")
    return EXIT["ok"]


def cmd_delete(client: Client, args) -> int:
    if not args.yes and sys.stdin.isatty():
        answer = input(f"delete run(s) {', '.join(f'#{i}' for i in args.ids)} with their metrics and files? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return EXIT["ok"]
    for run_id in args.ids:
        client.delete(run_id)
        print(f"run #{run_id} deleted")
    return EXIT["ok"]


def cmd_download(client: Client, args) -> int:
    path = client.download(args.id, args.file, args.output)
    print(f"{path} ({path.stat().st_size:,} bytes)")
    return EXIT["ok"]


def cmd_wait(client: Client, args) -> int:
    return wait_all(client, args.ids, args.quiet)


def cmd_tables(client: Client, args) -> int:
    tables = client.tables(profile=args.profile)
    if args.json:
        emit_json(tables)
    else:
        print_table(["TABLE", "CELLS DONE", "TITLE"],
                    [[t.id, f"{t.summary.done}/{t.summary.cells}", t.title] for t in tables])
    return EXIT["ok"]


def cmd_reproduce(client: Client, args) -> int:
    result = client.reproduce(args.table, seeds=args.seeds, profile=args.profile, cells=args.cell, dry_run=args.dry_run)
    if args.json:
        emit_json(result)
        return EXIT["ok"]
    verb = "would queue" if result.dry_run else "queued"
    print(f"{args.table} ({result.profile_label}): {verb} {result.runs} runs, {result.epochs:,} epochs; "
          f"about {result.gpu_hours:,.0f} GPU-hours on one H100 (an estimate from FLOPs, not measured)")
    local = result.local
    if local.hours is not None:
        on = "CPUs" if local.device == "cpu" else "workers"
        print(f"on this installation's {on}: about {local.hours:,.1f} hours one after another, measured on runs "
              f"{', '.join(f'#{i}' for i in local.measured_run_ids[:5])}")
    return EXIT["ok"]


def cmd_workers(client: Client, args) -> int:
    workers, queue = client.workers(), client.queue()
    if args.json:
        emit_json({"workers": [w.model_dump(mode="json") for w in workers], "queue": queue.model_dump(mode="json")})
        return EXIT["ok"]
    now = datetime.now(timezone.utc)
    print_table(["WORKER", "GPU", "STATE", "TRAINING", "LAST SEEN"],
                [[w.name, w.gpu or "cpu", w.state, ", ".join(f"#{r.id} {r.epochs_done}/{r.epochs}" for r in w.runs)
                  or "-", f"{(now - w.last_seen).total_seconds():.0f} s ago"] for w in workers])
    print(f"\n{queue.total} queued" + (":" if queue.runs else ""))
    for item in queue.runs:
        gpus = f", {item.run.gpus} GPUs" if item.run.gpus > 1 else ""
        print(f"  {item.position}. run #{item.run.id} {item.run.name} (waiting {item.waited_seconds / 60:.0f} min"
              f"{gpus}): {item.waiting_for}")
    return EXIT["ok"]


# --------------------------------------------------------------------------------------------- parser

def id_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("ids", type=int, nargs="+", metavar="ID", help="run id(s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shakelab", description=__doc__.split("\n\n")[0],
                                     epilog="exit codes: " + ", ".join(f"{c} {w}" for w, c in EXIT.items()))
    parser.add_argument("--url", help="the server (default $SHAKELAB_URL, else http://127.0.0.1:8000)")
    parser.add_argument("--api-key", help="bearer key (default $SHAKELAB_API_KEY)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Callable, help: str, json_output: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(run=run)
        if json_output:
            p.add_argument("--json", action="store_true", help="print the API's JSON instead of text")
        return p

    p = command("submit", cmd_submit, "queue a run spec (a JSON file, - for stdin)")
    p.add_argument("spec", metavar="SPEC.json")
    p.add_argument("--seeds", type=int, default=1, help="queue this many seeds, from the spec's seed on")
    p.add_argument("--gpus", type=int, default=1,
                   help="train each run on this many GPUs at once (a worker started with --gpus owning as many)")
    p.add_argument("--name")
    p.add_argument("--tag", action="append", default=[], help="a tag (repeat for several)")
    p.add_argument("--notes", default="")
    p.add_argument("--wait", action="store_true", help="wait for the runs to end; exit 1 unless all succeeded")
    p.add_argument("--quiet", action="store_true", help="no progress bar while waiting")

    p = command("runs", cmd_runs, "list runs, newest first")
    p.add_argument("--status", action="append", help="queued, running, succeeded, failed, cancelled, pruned")
    for name in ("tag", "arch", "method", "dataset"):
        p.add_argument(f"--{name}")
    p.add_argument("--search", type=int, help="the runs of one search")
    p.add_argument("--archived", choices=["no", "yes", "any"], default="no")
    p.add_argument("--limit", type=int, default=50)

    p = command("show", cmd_show, "one run: status, progress, errors, tags")
    p.add_argument("id", type=int)

    p = command("metrics", cmd_metrics, "a run's epochs as a table (tab-separated, or --csv)")
    p.add_argument("id", type=int)
    p.add_argument("--csv", action="store_true", help="comma-separated")

    p = command("wait", cmd_wait, "wait for runs to end; exit 1 unless all succeeded", json_output=False)
    id_list(p)
    p.add_argument("--quiet", action="store_true")

    id_list(command("cancel", cmd_cancel, "cancel queued or running runs", json_output=False))

    p = command("edit", cmd_edit, "change a run's name, tags or notes")
    p.add_argument("id", type=int)
    p.add_argument("--name")
    p.add_argument("--tag", action="append", help="the new set of tags (repeat); --tag '' clears them")
    p.add_argument("--notes")

    id_list(command("archive", cmd_archive, "archive runs (they leave the default list)", json_output=False))
    id_list(command("restore", cmd_archive, "bring archived runs back", json_output=False))
    p = command("delete", cmd_delete, "delete finished runs with their metrics and files", json_output=False)
    id_list(p)
    p.add_argument("--yes", action="store_true", help="do not ask")

    p = command("download", cmd_download, "save a run's checkpoint.pt or metrics.jsonl", json_output=False)
    p.add_argument("id", type=int)
    p.add_argument("--file", choices=["checkpoint.pt", "metrics.jsonl"], default="checkpoint.pt")
    p.add_argument("-o", "--output", help="file or folder (default ./run-ID-FILE)")

    p = command("tables", cmd_tables, "the papers' tables and how many cells are done")
    p.add_argument("--profile", choices=["full", "budget", "smoke"])

    p = command("reproduce", cmd_reproduce, "queue the runs a table lacks (--dry-run: only count and cost them)")
    p.add_argument("table")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--profile", choices=["full", "budget", "smoke"], default="full")
    p.add_argument("--cell", action="append", help="only this cell (repeat)")

    command("workers", cmd_workers, "the workers, what each trains, and the queue")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "tag", None) == [""]:
        args.tag = []
    try:
        with Client(args.url, args.api_key) as client:
            return args.run(client, args)
    except UsageError as exc:
        print(f"shakelab {args.command}: {exc}", file=sys.stderr)
        return EXIT["bad input"]
    except ShakeLabError as exc:
        kind = next((kind for cls, kind in EXIT_FOR_ERROR if isinstance(exc, cls)), "other error")
        print(f"shakelab {args.command}: {exc.message}", file=sys.stderr)
        return EXIT[kind]
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
