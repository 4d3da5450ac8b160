"""What a slow or oversized client may cost a server process: header and body read deadlines,
a header size limit, a cap on open connections. The servers enforce the first three at the
connection (``shared/http_server.py`` for uvicorn, Granian's own settings in ``lupa/server.py``);
the body deadline is an ASGI wrapper here, because neither server has one and because only
inside the application can a late body become a ``408`` problem instead of a handler left
waiting (and, once the client gives up, a ``500`` in the log)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import LupaError


@dataclass(frozen=True)
class ServerLimits:
    header_timeout_s: float = (
        10.0  # from connection (or first byte of the next request) to "\r\n\r\n"
    )
    body_timeout_s: float = 30.0  # from the first read of the body to its last byte
    max_header_bytes: int = 32 * 1024  # request line and headers together
    max_connections: int = 1000  # open connections per worker process
    keepalive_timeout_s: float = 5.0  # an idle keep-alive connection is closed after this

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ServerLimits:
        """``LUPA_HTTP_HEADER_TIMEOUT``, ``LUPA_HTTP_BODY_TIMEOUT``, ``LUPA_HTTP_KEEPALIVE_TIMEOUT``
        (seconds), ``LUPA_HTTP_MAX_HEADER_BYTES``, ``LUPA_HTTP_MAX_CONNECTIONS``."""

        def num(name: str, default: float) -> float:
            value = float(env.get(name, str(default)))
            if value <= 0:
                raise ValueError(f"{name} must be positive, not {value}")
            return value

        return cls(
            header_timeout_s=num("LUPA_HTTP_HEADER_TIMEOUT", cls.header_timeout_s),
            body_timeout_s=num("LUPA_HTTP_BODY_TIMEOUT", cls.body_timeout_s),
            max_header_bytes=int(num("LUPA_HTTP_MAX_HEADER_BYTES", cls.max_header_bytes)),
            max_connections=int(num("LUPA_HTTP_MAX_CONNECTIONS", cls.max_connections)),
            keepalive_timeout_s=num("LUPA_HTTP_KEEPALIVE_TIMEOUT", cls.keepalive_timeout_s),
        )


class RequestTimeout(LupaError):
    """The body did not arrive in time; the connection is closed after the answer, since the
    rest of the body may still be on its way."""

    status, slug, title = 408, "request-timeout", "The request took too long to arrive"
    closes_connection = True


class HeadersTooLarge(LupaError):
    """Answered by the server's protocol (``shared/http_server.py``), never by a handler."""

    status, slug, title = 431, "headers-too-large", "The request's headers are too large"
    closes_connection = True


class IncompleteBody(LupaError):
    """The client closed the connection before its body was complete. Nobody reads this
    answer; it exists so the access log says 400 (the client's doing), not 500."""

    status, slug, title = 400, "bad-request", "Bad request"
    closes_connection = True


class BodyReadTimeout:
    """An ASGI wrapper: the application's reads of one request's body must finish within
    ``seconds`` of the first; a disconnect before the last byte is the client's fault."""

    def __init__(self, app: Any, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline: float | None = None
        complete = False

        async def timed_receive() -> Any:
            nonlocal deadline, complete
            if complete:  # after the body, a read only waits for the disconnect: no deadline
                return await receive()
            if deadline is None:
                deadline = asyncio.get_running_loop().time() + self.seconds
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    f"The request body did not arrive within {self.seconds:g} s."
                ) from None
            if message["type"] == "http.disconnect":
                raise IncompleteBody("The connection closed before the request body was complete.")
            complete = not message.get("more_body", False)
            return message

        await self.app(scope, timed_receive, send)
