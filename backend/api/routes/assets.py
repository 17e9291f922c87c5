"""Third-party browser assets, served from installed Python packages (nothing from a CDN).

plotly.js comes from the `plotly` package's own bundle, and Swagger UI and ReDoc (the API docs at /docs and
/redoc) from `fastapi-offline`'s copies, so the dashboard and the docs work offline and their versions follow
the pinned Python dependencies.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

from fastapi import APIRouter, Request, Response

router = APIRouter(tags=["assets"], include_in_schema=False)

# A week: long enough that a dashboard reload never refetches 4.8 MB, short enough to pick up an upgrade;
# the ETag answers the revalidation with a 304.
CACHE_CONTROL = "public, max-age=604800"

API_DOCS_FILES = {  # fastapi_offline/static/<name>, served as /assets/<name>
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}

# ReDoc 2 shows Redocly's logo beside "API docs by Redocly" from Redocly's CDN, hard-coded (no option turns it
# off): offline a failed request, and under the CSP (img-src 'self') a violation, on every page load. An empty
# data: image fails to decode without a request, and ReDoc then drops the <img> (its onError); the link stays.
CDN_URLS_REPLACED = {"redoc.standalone.js": (b"https://cdn.redoc.ly/redoc/logo-mini.svg", b"data:,")}


@dataclass(frozen=True)
class Asset:
    """A file's bytes, gzipped once (plotly.min.js: 4.8 MB -> about 1.4 MB), and an ETag of its content."""

    raw: bytes
    gzipped: bytes
    etag: str
    media_type: str

    @classmethod
    def of(cls, raw: bytes, media_type: str, label: str) -> Asset:
        etag = f'"{label}-{hashlib.sha256(raw).hexdigest()[:16]}"'
        return cls(raw, gzip.compress(raw, compresslevel=6, mtime=0), etag, media_type)


def serve(request: Request, asset: Asset) -> Response:
    """The asset, gzipped when the browser accepts it, or a 304 when the browser's copy is current."""
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": asset.etag, "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(asset.gzipped, media_type=asset.media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(asset.raw, media_type=asset.media_type, headers=headers)


@lru_cache(maxsize=1)
def _plotly_bundle() -> Asset:
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return Asset.of(path.read_bytes(), "text/javascript", f"plotly-{plotly.__version__}")


@lru_cache(maxsize=len(API_DOCS_FILES))
def _api_docs_file(name: str) -> Asset:
    import fastapi_offline

    raw = (Path(fastapi_offline.__file__).parent / "static" / name).read_bytes()
    if name in CDN_URLS_REPLACED:
        raw = raw.replace(*CDN_URLS_REPLACED[name])
    return Asset.of(raw, API_DOCS_FILES[name], f"fastapi-offline-{version('fastapi-offline')}")


@router.get("/assets/plotly.min.js")
def plotly_js(request: Request) -> Response:
    return serve(request, _plotly_bundle())


def _api_docs_route(name: str):
    def api_docs_file(request: Request) -> Response:
        return serve(request, _api_docs_file(name))
    return api_docs_file


for _name in API_DOCS_FILES:
    router.add_api_route(f"/assets/{_name}", _api_docs_route(_name), methods=["GET"], name=f"asset {_name}")
