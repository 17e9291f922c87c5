"""What keeps other web sites out of a researcher's ShakeLab: the browser's own signals, checked on the server.

- `CrossSiteGuard` refuses (403) every state-changing request that a browser sent from another origin. A
  page elsewhere can still *send* a bodyless `fetch(..., {method: "POST", mode: "no-cors"})` to
  127.0.0.1 (CORS only hides the answer), so the server judges by `Sec-Fetch-Site` (sent by every current
  browser, and not settable by a page) and, for older browsers, by `Origin`. Requests without either
  (curl, scripts, the Python client) are not from a web page and pass: they cannot be forged by one.
- `AllowedHosts` answers 400 to a foreign `Host`: the DNS-rebinding path, where attacker.example is made
  to resolve to 127.0.0.1 and so becomes "same-origin" to the browser. (Starlette's TrustedHostMiddleware
  does the same but cannot say which setting fixes a refused name.)
- `SecurityHeaders` puts a Content-Security-Policy (ShakeLab's own scripts only; no framing) and its
  companions on every answer.

See the OWASP cheat sheets "Cross-Site Request Forgery Prevention" (Fetch Metadata) and "Clickjacking
Defense", and https://web.dev/articles/fetch-metadata.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Plotly and Swagger UI set inline styles, and Plotly draws its PNG export through data: and blob: images;
# scripts come from this server only (no inline script, no other host). 'unsafe-eval' because Plotly's WebGL
# charts (the parallel coordinates) compile their shaders' drawing code with `Function` (regl): without it
# they show "WebGL is not supported". No string of a user's reaches eval; scripts still load from here only.
# `frame-ancestors` is the modern form of X-Frame-Options, which older browsers still need beside it.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self' 'unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def cross_site_reason(headers: Headers, trusted_origins: frozenset[str]) -> str | None:
    """Why a state-changing request must be refused, or None when it comes from the dashboard or no browser."""
    origin = headers.get("origin")
    if origin is not None and origin.rstrip("/").lower() in trusted_origins:
        return None
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        # "same-site" is refused too: another port on 127.0.0.1 is the same site but another origin.
        if fetch_site in ("same-origin", "none"):  # "none": the person typed the address or used a bookmark
            return None
        return f"the browser says this request came from another site (Sec-Fetch-Site: {fetch_site})"
    if origin is None:
        return None  # no browser sent it
    own = headers.get("host", "").lower()
    if origin != "null" and urlsplit(origin).netloc.lower() == own:
        return None
    return f"the request came from the page of another origin ({origin}), not from this server's dashboard"


class CrossSiteGuard:
    """403 for POST, PATCH, PUT and DELETE that a browser sent from another origin, before any route runs."""

    def __init__(self, app: ASGIApp, trusted_origins: list[str] | tuple[str, ...] = ()) -> None:
        self.app = app
        self.trusted_origins = frozenset(o.rstrip("/").lower() for o in trusted_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            reason = cross_site_reason(Headers(scope=scope), self.trusted_origins)
            if reason is not None:
                body = json.dumps({"detail": f"Cross-site request refused: {reason}. ShakeLab changes "
                                             "nothing for other web sites; use its dashboard, curl or a script."})
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body.encode()})
                return
        await self.app(scope, receive, send)


def host_name(host_header: str) -> str:
    """The name in a Host header, without its port: `[::1]:8000` -> `[::1]`, `Lab.example:80` -> `lab.example`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.split(":", 1)[0]


class AllowedHosts:
    """400 for a request whose Host is not one of this server's names (a `*.example.com` pattern allowed)."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str] | tuple[str, ...]) -> None:
        self.app = app
        self.allowed = tuple(h.lower() for h in allowed_hosts)

    def allows(self, name: str) -> bool:
        return any(name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:]))
                   for pattern in self.allowed) or "*" in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            name = host_name(Headers(scope=scope).get("host", ""))
            if not self.allows(name):
                body = (f"ShakeLab does not answer to the host name {name!r}. If that is this server's name, "
                        "add it to SHAKELAB_ALLOWED_HOSTS (comma-separated).\n").encode()
                await send({"type": "http.response.start", "status": 400,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """The headers of SECURITY_HEADERS on every HTTP answer, the API's and the dashboard's files alike."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
