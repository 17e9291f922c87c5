"""`python -m worker.nas`: the NASNet search's controller process. Every few seconds it advances every active
NAS search (worker/nas/driver.py): rewards of ended children to the controller, new children as runs. It
needs torch and the database, not the broker (the API's dispatcher publishes the runs it creates); any
number may run, and one killed at any point loses nothing."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from sqlalchemy.exc import SQLAlchemyError

from backend.db import get_engine
from backend.settings import get_settings

log = logging.getLogger("shakelab.nas")


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    p = argparse.ArgumentParser(prog="python -m worker.nas", description=__doc__)
    p.add_argument("--interval", type=float, default=settings.dispatch_interval_seconds,
                   help="seconds between passes (default $SHAKELAB_DISPATCH_INTERVAL_SECONDS)")
    p.add_argument("--loglevel", default="INFO")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import torch

    from .driver import advance_nas_searches

    torch.set_num_threads(1)  # a small LSTM: one thread leaves the cores to the workers
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    engine = get_engine(settings)
    log.info("NAS controller process: database %s, a pass every %.1f s", settings.resolved_database_url,
             args.interval)
    while not stop.is_set():
        try:
            outcome = advance_nas_searches(engine)
            if any(outcome.values()):
                log.info("NAS: %s", outcome)
        except SQLAlchemyError as exc:
            log.warning("NAS: database unavailable (%s); retrying", exc.__class__.__name__)
        stop.wait(args.interval)


if __name__ == "__main__":
    main()
