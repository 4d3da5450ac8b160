"""The outermost ASGI layer: an exception that escapes every other layer (the request log,
security headers, tracing, body deadline; handler errors never get this far, Litestar's
exception handlers answer those) becomes a ``500`` problem and one structured log line.

Without it the server logs such an exception itself, with its traceback and message in its own
format, and a message can carry request data (a customer id in a database error, say). Here
only the exception's class and where it was raised are logged, as ``shared.problems`` logs an
unhandled handler error. Nothing wraps ``send``: the hot paths pay nothing for this layer
unless something fails.
"""

from __future__ import annotations

import traceback
from typing import Any

import msgspec
import structlog

from shared.logging import new_request_id
from shared.problems import PROBLEM_MEDIA_TYPE, problem_body

_DETAIL = "Something went wrong on our side; the change was not applied."


class LastResort:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except Exception as exc:  # a BaseException (cancellation, exit) is the server's to see
            frames = traceback.extract_tb(exc.__traceback__)
            where = [f"{f.filename}:{f.lineno}:{f.name}" for f in frames]
            # The logger is looked up here, on the failure path only, not cached at import.
            log = structlog.get_logger("lupa.problems")
            log.error("unhandled_exception", exc_type=type(exc).__name__, frames=where[-8:])
            await _answer_500(scope, send)


async def _answer_500(scope: Any, send: Any) -> None:
    """A ``500`` problem, unless the response had started: then the connection is left for the
    server to close, as it does when an application returns without finishing its answer."""
    state = scope.setdefault("state", {})
    request_id = state.get("request_id") or new_request_id()
    body = msgspec.json.encode(problem_body(500, "internal", "Internal error", _DETAIL, request_id))
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    try:
        await send({"type": "http.response.start", "status": 500, "headers": headers})
    except Exception:  # the server refuses a second start: the response had begun
        return
    await send({"type": "http.response.body", "body": body})
