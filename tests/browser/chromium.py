"""Chromium for the browser tests: how it is launched, the page size, and the console watch."""

from __future__ import annotations

import re
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")  # Debian's (scripts/system-deps.sh); Playwright never downloads one
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# Chromium's software WebGL (SwiftShader), for the charts that draw with WebGL (Plotly's parallel coordinates):
# with --disable-gpu alone they show "WebGL is not supported", which hides whatever breaks them.
WEBGL_ARGS = [a for a in CHROMIUM_ARGS if a != "--disable-gpu"] + ["--use-angle=swiftshader",
                                                                   "--enable-unsafe-swiftshader"]
DESKTOP = {"width": 1280, "height": 900}


class ConsoleWatch:
    """Console errors and uncaught exceptions of one page. `allow(pattern)` excuses an expected one, e.g.
    Chromium's "Failed to load resource: ... status of 422" when a test sends a bad spec on purpose."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.allowed: list[re.Pattern] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text} ({m.location})"))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]
