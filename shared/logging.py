"""structlog set-up and the one-line-per-request access log.

Logs carry opaque ids only (request id, route template, status): never a raw path, which
holds a customer's id, never a body, never an email, phone or name.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import sys
import time
from datetime import UTC, datetime
from json import JSONEncoder
from typing import Any, TextIO

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send


def configure_logging(json: bool = True, level: str = "INFO") -> None:
    """Configure structlog once, at process start (and the access log with it).

    ``json`` is decided by the settings (``log_json_from_env``: a terminal gets console lines,
    anything else JSON, ``LUPA_LOG_FORMAT`` overrides) and honoured here as given.
    """
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    _access.configure(json, logging.getLevelName(level) <= logging.INFO, sys.stderr)


class AccessLog:
    """The one line per request, rendered directly on the JSON path.

    Same keys, order and format as the structlog chain renders them (``JSONRenderer``), but
    without the chain: the processors, context merge and locked ``print`` cost ~10% of a check's
    throughput. Off below INFO, like the filtering logger; console mode keeps structlog.
    """

    def __init__(self) -> None:
        self.configure(True, True, sys.stderr)

    def configure(self, as_json: bool, enabled: bool, stream: TextIO) -> None:
        self.as_json, self.enabled, self.stream = as_json, enabled, stream

    def request(self, request_id: str, method: str, route: str, status: int, ms: float) -> None:
        if not self.enabled:
            return
        if not self.as_json:
            _access_log.info("request", method=method, route=route, status=status, duration_ms=ms)
            return
        line = _dumps(
            {
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": ms,
                "event": "request",
                "request_id": request_id,
                "level": "info",
                "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            }
        )
        self.stream.write(line + "\n")


_access_log = structlog.get_logger("lupa.access")
_access = AccessLog()
_dumps = JSONEncoder(default=str).encode
# Request ids: a random per-process prefix and a counter; unique, and no urandom call per request.
_id_prefix = secrets.token_hex(8)
_id_counter = itertools.count(1)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if (
            name == b"x-request-id"
            and 8 <= len(value) <= 64
            and value.isascii()
            and value.replace(b"-", b"").isalnum()
        ):
            return value.decode()
    return f"{_id_prefix}{next(_id_counter):016x}"


class RequestLogMiddleware:
    """Gives each request an id (``X-Request-ID``) and logs one line when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        id_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _access.request(
                request_id,
                str(scope.get("method", "?")),
                scope.get("path_template", "?"),
                status,
                round((time.perf_counter() - started) * 1000, 2),
            )
            # Undo only our binding (clear_contextvars walks every context variable).
            structlog.contextvars.reset_contextvars(**tokens)
