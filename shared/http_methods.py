"""HTTP methods as RFC 9110 wants them: HEAD wherever GET, and an honest ``Allow``.

- ``HEAD`` is answered as the ``GET`` of the same path (§9.3.2): same status and headers, no
  body. It goes through the same guards and handler, so a ``HEAD`` is refused exactly when the
  ``GET`` would be.
- ``OPTIONS`` is answered here, ``204`` with every method of the path in ``Allow``, without a
  token (it tells nothing the public OpenAPI document does not, and a CORS preflight carries
  none). Litestar's own OPTIONS answer sat behind the controller's guards and listed only the
  methods of the first controller on a path (``GET`` but not ``PUT /v1/subjects/{id}``).
- A 405 lists the same methods in ``Allow`` (§15.5.6); ``shared.problems`` writes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, cast

from litestar import Litestar
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, HTTPScope, Message, Receive, ReceiveMessage, Scope, Send
from litestar.utils import normalize_path

if TYPE_CHECKING:
    from litestar._asgi.asgi_router import ASGIRouter  # Litestar.asgi_router's type


def allow_header(methods: Iterable[str]) -> str:
    """The ``Allow`` value for a path served with ``methods``: plus HEAD where GET is, plus
    OPTIONS, sorted."""
    allowed = {method.strip().upper() for method in methods if method.strip()} | {"OPTIONS"}
    if "GET" in allowed:
        allowed.add("HEAD")
    return ", ".join(sorted(allowed))


def path_methods(app: Litestar) -> dict[str, str]:
    """Route template (as in ``scope["path_template"]``) -> its ``Allow`` value."""
    methods: dict[str, set[str]] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            methods.setdefault(route.path_format, set()).update(handler.http_methods)
    return {path: allow_header(found) for path, found in methods.items()}


class HttpMethodsMiddleware:
    """Serves ``HEAD`` as ``GET`` without the body and answers ``OPTIONS``.

    ``route`` finds a path's route template the way the app's router does (so
    ``/v1/subjects/lookup`` is not ``/v1/subjects/{external_id}``); ``allow`` maps templates to
    their ``Allow`` value (``path_methods``).
    """

    def __init__(self, app: ASGIApp, router: ASGIRouter, allow: Mapping[str, str]) -> None:
        self.app = app
        self.router = router
        self.allow = allow

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        http = cast("HTTPScope", scope)
        if http["method"] == "HEAD":
            http["method"] = "GET"
            await self._head(scope, receive, send)
        elif http["method"] == "OPTIONS" and (template := self._template(scope["path"])):
            scope["path_template"] = template  # for the access log
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [(b"allow", self.allow[template].encode())],
                }
            )
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await self.app(scope, receive, send)

    async def _head(self, scope: Scope, receive: Receive, send: Send) -> None:
        done = False

        async def headers_only(message: Message) -> None:
            nonlocal done
            if done:
                return  # the rest of a streamed body
            if message["type"] == "http.response.body":
                done = True
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        async def disconnect_when_done() -> ReceiveMessage:
            # A stream (the live audit feed) stops once its client is gone; a HEAD client is
            # gone as soon as it has the headers.
            if done:
                return {"type": "http.disconnect"}
            return await receive()

        await self.app(scope, disconnect_when_done, headers_only)

    def _template(self, path: str) -> str | None:
        """The route template of ``path``; None when no route has it (the app answers 404)."""
        try:
            template = self.router.handle_routing(path=normalize_path(path), method="OPTIONS")[-1]
        except HTTPException:
            return None
        return template if template in self.allow else None
