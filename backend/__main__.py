"""`python -m backend run|api|migrate|downgrade`.

run        the whole system on this machine: migrate, the API (with the dashboard), one worker and the NAS
           controller process; Ctrl-C stops them all (a run in progress goes back to the queue and resumes
           next time; a NAS search resumes from its stored state)
api        the API alone (docker-compose's api service)
migrate    upgrade the database to the newest schema (docker-compose's one-shot step)
downgrade  undo migrations down to a revision (default: all of them)
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys

from .settings import get_settings


def _serve(settings) -> None:
    import uvicorn

    from .api import create_app

    if settings.api_processes == 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
        return
    from .db import migrate

    # Several processes on one port, each its own app (settings from the same environment), read cache and
    # dispatcher (whose steps are conditional updates, safe side by side). Migrated once here, so that they
    # start on a database at its head rather than racing to upgrade it.
    migrate(settings.resolved_database_url)
    uvicorn.run("backend.api:create_app", factory=True, workers=settings.api_processes, host=settings.host,
                port=settings.port, log_level="info")


def _run(settings) -> int:
    from .db import migrate

    migrate(settings.resolved_database_url)
    worker = subprocess.Popen([sys.executable, "-m", "worker"])
    # The NASNet search's controller needs torch, which the API process never imports (docs/nas.md).
    controller = subprocess.Popen([sys.executable, "-m", "worker.nas"])
    print(f"ShakeLab: dashboard and API on http://{settings.host}:{settings.port}/  (API docs: /docs)\n"
          f"  database {settings.resolved_database_url}\n  broker   "
          f"{'embedded, in ' + str(settings.broker_dir) if settings.embedded_broker else 'external'}\n"
          f"  runs     {settings.resolved_runs_dir}\nCtrl-C stops the API, the worker and the NAS controller.",
          flush=True)
    try:
        _serve(settings)
    finally:
        # Warm shutdown: the worker's run goes back to the queue; the controller ends its step.
        for child in (worker, controller):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in (worker, controller):
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m backend", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="API, dashboard, one worker and the NAS controller on this machine")
    sub.add_parser("api", help="the API alone")
    sub.add_parser("migrate", help="upgrade the database")
    down = sub.add_parser("downgrade", help="undo migrations")
    down.add_argument("revision", nargs="?", default="base")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    settings.home_dir.mkdir(parents=True, exist_ok=True)
    if args.command == "run":
        return _run(settings)
    if args.command == "api":
        _serve(settings)
    elif args.command == "migrate":
        from .db import migrate
        migrate(settings.resolved_database_url)
        print(f"database at the newest schema: {settings.resolved_database_url}")
    elif args.command == "downgrade":
        from .db import downgrade
        downgrade(settings.resolved_database_url, args.revision)
    return 0


if __name__ == "__main__":
    sys.exit(main())
