"""The FastAPI app: REST API under /api, OpenAPI docs at /docs, the dashboard at /."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import Depends, FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES

from ..db import get_engine, migrate
from ..dispatch import Dispatcher
from ..read_cache import PageKeys, ReadCache
from ..settings import Settings, get_settings
from .deps import require_read_key
from .errors import install_error_handlers
from .key_reads import KeyReads
from .routes import api_docs, assets, catalog, experiments, health, nas, runs, searches, stats, workers
from .routes import tables as table_routes
from .security import AllowedHosts, CrossSiteGuard, SecurityHeaders

log = logging.getLogger("shakelab.api")

VERSION = "0.1.0"
FRONTEND = Path(__file__).resolve().parents[2] / "frontend"


class Frontend(StaticFiles):
    """The dashboard's files, revalidated on every load (ETag, 304), so an upgrade shows at once."""

    async def get_response(self, path, scope):
        response = await super().get_response(path, scope)
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


def create_app(settings: Settings | None = None, *, dispatch: bool = True) -> FastAPI:
    """The app. `dispatch=False` leaves out the dispatcher thread (an app that only answers requests)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        migrated = True
        try:
            migrate(settings.resolved_database_url)
        except SQLAlchemyError as exc:  # serve 503s meanwhile; the dispatcher migrates once it can connect
            log.error("database unreachable at start (%s); retrying in the background", exc.__class__.__name__)
            migrated = False
        if dispatch:
            app.state.dispatcher = Dispatcher(settings, migrated=migrated)
            app.state.dispatcher.start()
        # The routes are plain functions, run in threads; Python runs one at a time, so threads beyond a few
        # only overlap database waits, and 20 readers in 40 threads fight over the interpreter lock and
        # starve the loop that answers them (p99 x2-3 in bench/api_load.py's closed loop).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        await app.state.key_reads.open()
        # What start-up made (modules, the app, SQLAlchemy's mappers) lives as long as the process: frozen, a
        # full collection skips it and takes a few ms, not the 110-140 ms that stalled every reader at once.
        gc.collect()
        gc.freeze()
        yield
        gc.unfreeze()  # collectable again: an app stopped in a longer-lived process (tests) is not kept
        await app.state.key_reads.close()
        if dispatch:
            app.state.dispatcher.stop()

    app = FastAPI(
        title="ShakeLab",
        version=VERSION,
        description="Launch, watch and compare Shake-Shake, ShakeDrop, stochastic depth and ScheduledDropPath "
                    "runs on CIFAR. State-changing requests need `Authorization: Bearer KEY` when the server "
                    "has SHAKELAB_API_KEY set (reads too with SHAKELAB_PROTECT_READS). A state-changing request "
                    "that a browser sends from another web site's page gets 403.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from api_docs: offline, and no inline script
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = get_engine(settings)
    app.state.dispatcher = None
    app.state.read_cache = ReadCache()  # the hot reads' answers, keyed on the runs' versions (backend/read_cache.py)
    app.state.page_keys = PageKeys()  # the runs lists' keys, while no run changes
    app.state.key_reads = KeyReads(app.state.engine)  # the hot reads' keys, on the event loop (key_reads.py)
    install_error_handlers(app)
    # Level 3: the compare answer shrinks ~2x at a fraction of the default level 9's time (14 MB: 0.1 s, not 0.9 s).
    # Checkpoints (torch's zip files) do not compress: they stream as they are, with their length.
    app.add_middleware(GZipMiddleware, minimum_size=2048, compresslevel=3,
                       exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "application/octet-stream"))
    # The last added runs first: headers on every answer, then the Host check, then the cross-site check.
    app.add_middleware(CrossSiteGuard, trusted_origins=settings.trusted_origins)
    app.add_middleware(AllowedHosts, allowed_hosts=settings.resolved_allowed_hosts)
    app.add_middleware(SecurityHeaders)
    # Health stays open for probes; every other read needs the key where SHAKELAB_PROTECT_READS says so.
    app.include_router(health.router, prefix="/api")
    for module in (catalog, runs, experiments, searches, nas, workers, table_routes, stats):
        app.include_router(module.router, prefix="/api", dependencies=[Depends(require_read_key)])
    app.include_router(assets.router)  # before the static mount, which would otherwise answer /assets/*
    app.include_router(api_docs.router)
    if FRONTEND.is_dir():
        app.mount("/", Frontend(directory=FRONTEND, html=True), name="frontend")
    return app
