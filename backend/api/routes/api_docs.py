"""The API's docs pages, Swagger UI at /docs and ReDoc at /redoc, working offline and without inline script.

FastAPI's own /docs page loads Swagger UI from a CDN and starts it with an inline <script>, which the
Content-Security-Policy (`script-src 'self'`) blocks. Here the page carries its settings as a JSON data
block (not executed, so the CSP allows it) and a script file served from here reads them and starts
Swagger UI. ReDoc needs no starter script: FastAPI's `get_redoc_html` is used as it is, pointed at our files.
"""

from __future__ import annotations

import html
import json
from functools import lru_cache

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_redoc_html, swagger_ui_default_parameters
from fastapi.responses import HTMLResponse

from .assets import Asset, serve

router = APIRouter(tags=["docs"], include_in_schema=False)

SWAGGER_INIT_JS = """\
// Starts Swagger UI with the settings the page carries (a file, not inline script: the CSP allows only files).
"use strict";
const settings = JSON.parse(document.getElementById("swagger-ui-settings").textContent);
window.ui = SwaggerUIBundle({
  ...settings,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""

SWAGGER_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title>
<link rel="stylesheet" href="{root}/assets/swagger-ui.css">
<link rel="icon" href="{root}/assets/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script type="application/json" id="swagger-ui-settings">{settings}</script>
<script src="{root}/assets/swagger-ui-bundle.js"></script>
<script src="{root}/assets/swagger-init.js"></script>
</body>
</html>
"""


def _json_in_html(value) -> str:
    """JSON that cannot end its <script> element early (the same escapes FastAPI uses for its page)."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@lru_cache(maxsize=1)
def _swagger_init() -> Asset:
    return Asset.of(SWAGGER_INIT_JS.encode(), "text/javascript", "swagger-init")


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    app, root = request.app, request.scope.get("root_path", "")
    settings = {"url": f"{root}{app.openapi_url}", **swagger_ui_default_parameters,
                "validatorUrl": None,  # no call to swagger.io's online validator
                **(app.swagger_ui_parameters or {})}
    return HTMLResponse(SWAGGER_PAGE.format(title=html.escape(f"{app.title} - Swagger UI"), root=root,
                                            settings=_json_in_html(settings)))


@router.get("/assets/swagger-init.js")
def swagger_init_js(request: Request) -> Response:
    return serve(request, _swagger_init())


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    app, root = request.app, request.scope.get("root_path", "")
    return get_redoc_html(openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - ReDoc",
                          redoc_js_url=f"{root}/assets/redoc.standalone.js",
                          redoc_favicon_url=f"{root}/assets/favicon.png", with_google_fonts=False)
