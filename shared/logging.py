"""structlog set-up and the one-line-per-request access log.

Logs carry opaque ids only (request id, route template, status): never a raw path, which
holds a customer's id, never a body, never an email, phone or name.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import sys
import time
from collections.abc import Callable
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
            # A fresh logger each time (console mode is for a person at a terminal, not for
            # throughput): a cached one would keep the level and processors of its first use.
            structlog.get_logger("lupa.access").info(
                "request", method=method, route=route, status=status, duration_ms=ms
            )
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


UNMATCHED_ROUTE = "?"  # the route of a path no route matched (never the raw path)
_access = AccessLog()
_dumps = JSONEncoder(default=str).encode
# Request ids are UUIDs (RFC 9562 version 8: a random per-process prefix and a counter), so a
# problem's ``instance`` can name the occurrence as ``urn:uuid:<request id>``; unique, and no
# urandom call per request.
_id_prefix = (secrets.randbits(64) & ~0xF000) | 0x8000  # version 8 in bits 48-51
_id_counter = itertools.count(1)
_COUNTER_BITS = (1 << 62) - 1
_VARIANT = 1 << 63  # RFC 9562 variant (0b10) in the top bits of the low half
_CLIENT_ID = re.compile(rb"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def new_request_id() -> str:
    digits = f"{_id_prefix:016x}{(next(_id_counter) & _COUNTER_BITS) | _VARIANT:016x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _request_id(scope: Scope) -> str:
    """The client's ``X-Request-ID`` if it is a UUID (kept, lower-cased), else a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and _CLIENT_ID.fullmatch(value):
            return value.decode().lower()
    return new_request_id()


class RequestLogMiddleware:
    """Gives each request an id (``X-Request-ID``) and logs one line when it ends.

    It wraps the whole app, outside Litestar's router (``shared.app_base``), so that the 404 of
    an unknown path and the 405 of a wrong method get their id and their line like any other
    answer. ``method`` is read on the way in: ``HEAD`` is served as ``GET`` further in.
    """

    def __init__(
        self, app: ASGIApp, observe: Callable[[str, str, int, float], None] | None = None
    ) -> None:
        self.app = app
        # Told (method, route template, status, seconds) of each answer: the request metrics.
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        method = str(scope.get("method", "?"))
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
            seconds = time.perf_counter() - started
            route = scope.get("path_template", UNMATCHED_ROUTE)
            _access.request(request_id, method, route, status, round(seconds * 1000, 2))
            if self.observe is not None:
                self.observe(method, route, status, seconds)
            # Undo only our binding (clear_contextvars walks every context variable).
            structlog.contextvars.reset_contextvars(**tokens)
