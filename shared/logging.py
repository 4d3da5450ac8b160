"""structlog set-up and the one-line-per-request access log.

Logs carry opaque ids only (request id, route template, status): never a raw path, which
holds a customer's id, never a body, never an email, phone or name.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from typing import Any

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send


def configure_logging(json: bool = True, level: str = "INFO") -> None:
    """Configure structlog once, at process start."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json or not sys.stderr.isatty()
        else structlog.dev.ConsoleRenderer()
    )
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


_access_log = structlog.get_logger("lupa.access")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if (
            name == b"x-request-id"
            and 8 <= len(value) <= 64
            and value.isascii()
            and value.replace(b"-", b"").isalnum()
        ):
            return value.decode()
    return uuid.uuid4().hex


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
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _access_log.info(
                "request",
                method=scope.get("method"),
                route=scope.get("path_template", "?"),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()
