"""The HTTP protocol the services run under uvicorn: httptools, with the answers uvicorn
writes itself sent as RFC 9457 problems like every other error (never uvicorn's
``text/plain``), and the connection-level limits of ``shared.http_limits.ServerLimits`` that
uvicorn lacks:

- ``400`` for a request it cannot parse (a request line over the parser's limit, raw
  non-ASCII bytes in it);
- ``408`` when a request's head (request line and headers) is not complete within
  ``header_timeout_s`` of the connection opening, or of the first byte of the next request
  on a kept-alive connection (uvicorn's keep-alive timer only runs between requests, so half
  a head held a worker's connection forever);
- ``431`` when the head exceeds ``max_header_bytes`` (httptools has no limit: 50 MB were
  accepted);
- ``503`` (with ``Retry-After``) to a connection beyond ``max_connections`` open ones, at
  once, before it sends anything.

The application never sees such a request, so this is the only place that can answer it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httptools
import structlog
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from shared.errors import LupaError, Unavailable
from shared.http_limits import HeadersTooLarge, RequestTimeout, ServerLimits
from shared.logging import new_request_id
from shared.problems import PROBLEM_MEDIA_TYPE, problem_body

log = structlog.get_logger("lupa.access")

_ANSWERS = {  # status: (the error whose type and title it carries, the detail)
    400: (LupaError, "The request could not be parsed as HTTP."),
    408: (RequestTimeout, "The request's headers did not arrive in time."),
    431: (HeadersTooLarge, "The request line and headers exceed the server's limit."),
    503: (Unavailable, "The server has too many open connections."),
}
_STATUS_LINES = {
    **STATUS_LINE,
    408: b"HTTP/1.1 408 Request Timeout\r\n",
    431: b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
    503: b"HTTP/1.1 503 Service Unavailable\r\n",
}


def unparseable_request_problem(request_id: str) -> bytes:
    return _problem(400, request_id)


def _problem(status: int, request_id: str) -> bytes:
    error, detail = _ANSWERS[status]
    body = problem_body(status, error.slug, error.title, detail, request_id)
    return json.dumps(body).encode()


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head over the limit."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    limits: ServerLimits | None = None  # read from the environment on first use

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if ProblemHttpToolsProtocol.limits is None:
            ProblemHttpToolsProtocol.limits = ServerLimits.from_env()
        self._limits = ProblemHttpToolsProtocol.limits
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = True  # waiting for, or reading, a request's head
        self._head_bytes = 0  # of the head being read (an over-estimate until it completes)

    # Connections

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._limits.max_connections:
            self._answer(503, "too many connections", retry_after=1)
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._in_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._answer(exc.__context__.status, "request head over the limit")
            else:
                self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_head and self._head_bytes > self._limits.max_header_bytes:
            self._answer(self._too_large_status(), "request head over the limit")

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        if self._head_timer is None:  # the next request on a kept-alive connection
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if size > self._limits.max_header_bytes:
            raise _HeadTooLarge(self._too_large_status())
        self._in_head = False
        self._head_bytes = 0
        self._disarm_head_timer()
        super().on_headers_complete()

    def _too_large_status(self) -> int:
        """``431`` for headers over the limit; a request line over it alone stays the ``400``
        of a request that cannot be parsed (what httptools answers to a URL over 64 KiB)."""
        return 400 if len(self.url) > self._limits.max_header_bytes else 431

    # Answers the application never sees

    def send_400_response(self, msg: str) -> None:
        # uvicorn's ``msg`` names the parser's complaint; it is logged, never sent back.
        self._answer(400, msg)

    def _answer(self, status: int, reason: str, retry_after: int | None = None) -> None:
        self._disarm_head_timer()
        if self.transport.is_closing():
            return
        request_id = new_request_id()  # a UUID, like every other response's
        body = _problem(status, request_id)
        head = [_STATUS_LINES[status]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        if retry_after is not None:
            head.append(f"retry-after: {retry_after}\r\n".encode())
        head.extend(
            [
                f"content-type: {PROBLEM_MEDIA_TYPE}\r\n".encode(),
                f"content-length: {len(body)}\r\n".encode(),
                f"x-request-id: {request_id}\r\n".encode(),
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        log.info("request", status=status, route=None, request_id=request_id, error=reason[:100])
        self.transport.write(b"".join(head))
        self.transport.close()

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(
            self._limits.header_timeout_s, self._answer, 408, "request head not complete in time"
        )

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
