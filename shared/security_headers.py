"""Headers every answer carries, and CORS, closed unless the operator names origins.

- ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer`` everywhere (links
  carry tokens in their URLs: a Referer would hand them to the next site).
- ``Strict-Transport-Security`` when the public URL is https, or the request came over HTTPS
  (directly, or by ``X-Forwarded-Proto`` from a trusted proxy that terminated TLS).
- A ``Content-Security-Policy`` on answers that set none (pages set their own); the OpenAPI
  viewer under ``/schema`` keeps Swagger UI's.
- CORS: an ``Origin`` listed in ``LUPA_CORS_ORIGINS`` gets ``Access-Control-Allow-Origin``
  with exactly that origin (never ``*``, never credentials: the API takes bearer tokens, not
  cookies); any other origin gets no CORS header at all, so browsers refuse the answer.
"""

from __future__ import annotations

from typing import Any, cast

from litestar.datastructures import MutableScopeHeaders
from litestar.types import (
    ASGIApp,
    HTTPResponseStartEvent,
    HTTPScope,
    Message,
    Receive,
    Scope,
    Send,
)

from shared.client_address import came_over_https
from shared.settings import HttpSettings

HSTS = "max-age=31536000; includeSubDomains"
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
PAGE_POLICY = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
CORS_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE"
CORS_HEADERS = "Authorization, Content-Type, Idempotency-Key, If-Match, If-None-Match"
CORS_EXPOSED = "ETag, Location, Retry-After, X-Request-Id"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, http: HttpSettings) -> None:
        self.app = app
        self.trusted = http.trusted_proxies
        self.origins = frozenset(http.cors_origins)
        self.https_url = http.public_base_url.startswith("https://")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        allowed = origin if origin is not None and origin.lower() in self.origins else None
        if (
            allowed
            and cast("HTTPScope", scope)["method"] == "OPTIONS"
            and _header(scope, b"access-control-request-method")
        ):
            await self._preflight(allowed, send)
            return
        hsts = self.https_url or came_over_https(scope, self.trusted)
        viewer = scope["path"].startswith("/schema")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders(message)
                self._add(headers, hsts, viewer, allowed)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _add(
        self, headers: MutableScopeHeaders, hsts: bool, viewer: bool, allowed: str | None
    ) -> None:
        headers["X-Content-Type-Options"] = "nosniff"
        if "referrer-policy" not in headers:
            headers["Referrer-Policy"] = "no-referrer"
        if hsts:
            headers["Strict-Transport-Security"] = HSTS
        if "content-security-policy" not in headers and not viewer:
            html = (headers.get("content-type") or "").startswith("text/html")
            headers["Content-Security-Policy"] = PAGE_POLICY if html else API_POLICY
        if self.origins:
            headers.add("Vary", "Origin")  # the answer differs by origin: caches must know
        if allowed:
            headers["Access-Control-Allow-Origin"] = allowed
            headers["Access-Control-Expose-Headers"] = CORS_EXPOSED

    async def _preflight(self, origin: str, send: Send) -> None:
        headers: list[tuple[bytes, bytes]] = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", CORS_METHODS.encode()),
            (b"access-control-allow-headers", CORS_HEADERS.encode()),
            (b"access-control-max-age", b"600"),
            (b"vary", b"Origin"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": 204,
            "headers": headers,
        }
        await send(start)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")  # type: ignore[no-any-return]
    return None
