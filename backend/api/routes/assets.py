"""Third-party browser assets the dashboard needs, served from installed Python packages (nothing from a CDN).

plotly.js comes from the `plotly` package's own bundle, so the dashboard works offline and its version
follows the pinned Python dependency.
"""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request, Response

router = APIRouter(tags=["assets"], include_in_schema=False)

# A week: long enough that a dashboard reload never refetches 4.8 MB, short enough to pick up an upgrade;
# the ETag answers the revalidation with a 304.
CACHE_CONTROL = "public, max-age=604800"


@lru_cache(maxsize=1)
def _plotly_bundle() -> tuple[bytes, bytes, str]:
    """plotly.min.js as bytes, gzipped once (4.8 MB -> about 1.4 MB), and its ETag."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    raw = path.read_bytes()
    etag = f'"plotly-{plotly.__version__}-{hashlib.sha256(raw).hexdigest()[:16]}"'
    return raw, gzip.compress(raw, compresslevel=6, mtime=0), etag


@router.get("/assets/plotly.min.js")
def plotly_js(request: Request) -> Response:
    raw, gzipped, etag = _plotly_bundle()
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag, "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(gzipped, media_type="text/javascript", headers={**headers, "Content-Encoding": "gzip"})
    return Response(raw, media_type="text/javascript", headers=headers)
