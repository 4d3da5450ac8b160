"""The container image's ``HEALTHCHECK``: one command for every role the image can play.

The image runs ``lupa serve SERVICE``, ``lupa relay``, ``lupa worker`` or ``lupa migrate``;
which one is in the container's own command line (``/proc/1/cmdline``). A service is healthy
when its readiness probe (``GET /health/ready`` on loopback, its own port) answers 200. The
relay and the worker listen on no port: they are healthy while their process runs, and a
fatal error ends the process, which the orchestrator's restart policy handles.

``python -m lupa.container_health`` exits 0 (healthy) or 1 (not), printing one line why.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from lupa import registry
from shared.settings import HttpSettings

PROBE_PATH = "/health/ready"
PROBE_TIMEOUT_S = 3.0


def readiness_url(argv: Sequence[str], env: Mapping[str, str] = os.environ) -> str | None:
    """The readiness URL of the service ``argv`` serves; None for a role without HTTP."""
    args = list(argv)
    if "serve" not in args:
        return None
    after = args[args.index("serve") + 1 :]
    service = next((a for a in after if a in registry.names()), None)
    if service is None:
        return None
    spec = registry.get(service)
    port = HttpSettings.from_env(service, env, spec.default_port).port
    return f"http://127.0.0.1:{port}{PROBE_PATH}"


def check(argv: Sequence[str], env: Mapping[str, str] = os.environ) -> tuple[bool, str]:
    """Whether the role in ``argv`` is healthy, and a line saying why."""
    url = readiness_url(argv, env)
    if url is None:
        return True, "no HTTP port for this role: healthy while the process runs"
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as resp:  # noqa: S310
            return resp.status == 200, f"{url} answered {resp.status}"
    except urllib.error.HTTPError as exc:  # 503 while the database is unreachable
        return False, f"{url} answered {exc.code}"
    except OSError as exc:  # refused, timed out: not listening (yet)
        return False, f"{url} did not answer: {exc.__class__.__name__}"


def container_command(proc: Path = Path("/proc/1/cmdline")) -> list[str]:
    """The container's command line (PID 1's), as the image started it."""
    return [part for part in proc.read_bytes().decode().split("\0") if part]


def main() -> int:
    healthy, why = check(container_command())
    print(why)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
