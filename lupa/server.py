"""Serving an ASGI app factory with uvicorn or Granian, workers and limits included.

Both servers get the same ``shared.http_limits.ServerLimits`` as far as each can enforce
them (docs/operations.md, "Server"): uvicorn through ``shared.http_server``'s protocol,
Granian through its HTTP/1 settings and backpressure. The body deadline is in the app itself
(``shared.http_limits.BodyReadTimeout``), the same under both.

``python -m lupa.server FACTORY --port P [--server S] [--workers N]`` serves any factory
(the benchmarks use it for their baseline apps, so every side of a comparison runs under
the same server code).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Literal

from shared.http_limits import ServerLimits

ServerName = Literal["uvicorn", "granian"]
SERVERS: tuple[ServerName, ...] = ("uvicorn", "granian")
# Kept after measuring both (benchmarks/servers.py, README): see docs/operations.md "Server".
DEFAULT_SERVER: ServerName = "uvicorn"


def server_from_env() -> ServerName:
    """``LUPA_SERVER`` (``uvicorn`` or ``granian``), else ``DEFAULT_SERVER``."""
    name = os.environ.get("LUPA_SERVER", DEFAULT_SERVER)
    if name not in SERVERS:
        raise SystemExit(f"LUPA_SERVER must be one of {', '.join(SERVERS)}, not {name!r}")
    return name


def serve(
    app_factory: str,
    host: str,
    port: int,
    workers: int = 1,
    server: ServerName = DEFAULT_SERVER,
    limits: ServerLimits | None = None,
) -> None:
    """Serve ``app_factory`` ("module:function" returning an ASGI app) until SIGTERM/SIGINT;
    each worker runs the app's lifespan (start-up, and shutdown that disposes the engine)."""
    limits = limits or ServerLimits.from_env()
    if server == "granian":
        _granian(app_factory, host, port, workers, limits)
    else:
        _uvicorn(app_factory, host, port, workers, limits)


def _uvicorn(app_factory: str, host: str, port: int, workers: int, limits: ServerLimits) -> None:
    import uvicorn

    from shared.http_server import ProblemHttpToolsProtocol

    uvicorn.run(
        app_factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,  # Lupa's own access log (shared/logging.py) has the request ids
        loop="uvloop",
        http=ProblemHttpToolsProtocol,  # httptools; its own answers as problems, the limits
        timeout_keep_alive=int(limits.keepalive_timeout_s),
    )


def _granian(app_factory: str, host: str, port: int, workers: int, limits: ServerLimits) -> None:
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    Server(
        app_factory,
        address=host,
        port=port,
        interface=Interfaces.ASGI,  # with lifespan
        factory=True,
        workers=workers,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        # Requests served at once per worker; further connections wait in the listen backlog.
        backpressure=limits.max_connections,
        http1_settings=HTTP1Settings(
            header_read_timeout=int(limits.header_timeout_s * 1000),
            keep_alive=True,
            # hyper's read buffer: a head that does not fit is answered 431; at least 8 KiB.
            max_buffer_size=max(8192, limits.max_header_bytes),
        ),
        log_level=LogLevels.warning,
        log_access=False,
    ).serve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lupa.server")
    parser.add_argument("factory", help='"module:function" returning an ASGI app')
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--server", choices=SERVERS, default=None, help="default: LUPA_SERVER")
    args = parser.parse_args(argv)
    serve(args.factory, args.host, args.port, args.workers, args.server or server_from_env())
    return 0


if __name__ == "__main__":
    sys.exit(main())
