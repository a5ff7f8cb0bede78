"""Container health check of the Dockyard image (no curl in the image: plain Python).

For `dockyard serve` it asks GET /healthz on the server's own port (HTTPS when the server
serves TLS, certificate not verified: it is our own process). Worker and beat containers
serve no HTTP: for them the check only passes while their process runs.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request
from pathlib import Path


def _serving_http() -> bool:
    """Whether this container runs `dockyard serve`: read the command PID 1 was given.

    PID 1 is `tini -- /usr/local/bin/dockyard-entrypoint [command...]`; no command means
    `serve`. Anything unexpected counts as a server (the HTTP check then decides).
    """
    try:
        argv = [a.decode() for a in Path("/proc/1/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return True
    for i, arg in enumerate(argv):
        if arg.endswith("dockyard-entrypoint"):
            rest = argv[i + 1 :]
            return not rest or rest[0] == "serve"
    return True


def main() -> int:
    if not _serving_http():
        return 0
    port = os.environ.get("DOCKYARD_PORT", "8700")
    tls = bool(
        os.environ.get("DOCKYARD_TLS_CERT")
        or os.environ.get("DOCKYARD_TLS_SELF_SIGNED", "").lower() in ("1", "true", "yes")
    )
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/healthz"
    context = ssl._create_unverified_context() if tls else None  # noqa: S323 (own process)
    try:
        with urllib.request.urlopen(url, timeout=4, context=context) as response:  # noqa: S310
            ok = response.status == 200
    except Exception as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
