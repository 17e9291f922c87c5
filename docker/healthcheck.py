"""The api container's healthcheck: healthy when GET /api/health answers 200.

The API answers 200 while its database is reachable (a broker outage shows as "degraded" in the body, and
the API keeps serving) and 503 when it is not. The port is the container's SHAKELAB_PORT.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('SHAKELAB_PORT', '8000')}/api/health"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an HTTP proxy
    try:
        with opener.open(url, timeout=5) as response:
            print(f"{url}: {response.status} {response.read(300).decode(errors='replace')}")
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(f"{url}: {exc.code} {exc.read(300).decode(errors='replace')}", file=sys.stderr)
    except OSError as exc:  # refused, timed out: the API is not answering
        print(f"{url}: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
