"""Bearer authentication and per-endpoint role guards.

Every route declares its roles with ``requires(...)``. Routes without a guard must say
``opt={"public": True}``; ``assert_every_route_guarded`` fails app start-up otherwise.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.types import Guard

from shared.auth.portal import refuse_unbound_portal
from shared.auth.tokens import (
    AccessTokenVerifier,
    InvalidToken,
    Principal,
    verify_metrics_token,
)
from shared.errors import Forbidden, Unauthorized

VERIFIER_STATE_KEY = "token_verifier"
# The OpenAPI document and its viewers are public by design.
PUBLIC_PREFIXES = ("/schema",)


def principal_from(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """The caller's principal, verifying the bearer token once per request."""
    return principal_of_scope(connection.scope)


def principal_of_scope(scope: Any) -> Principal | None:
    """``principal_from`` on a raw ASGI scope, for fast paths that build no connection."""
    state = scope.setdefault("state", {})
    if "principal" in state:
        return state["principal"]  # type: ignore[no-any-return]
    header = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            header = value.decode("latin-1")
            break
    principal = None
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Use 'Authorization: Bearer <token>'.")
        verifier: AccessTokenVerifier = scope["litestar_app"].state[VERIFIER_STATE_KEY]
        try:
            principal = verifier.verify(token.strip())
        except InvalidToken:
            raise Unauthorized("The token is invalid or expired.") from None
    state["principal"] = principal
    return principal


def authorize(scope: Any, roles: tuple[str, ...]) -> Principal:
    """The rule of ``requires(*roles)`` (without ``subject_param``) on a raw ASGI scope."""
    principal = principal_of_scope(scope)
    if principal is None:
        raise Unauthorized("This endpoint needs a bearer token.")
    refuse_unbound_portal(principal)
    if principal.role not in roles:
        raise Forbidden(f"The role '{principal.role}' may not use this endpoint.")
    return principal


def requires(*roles: str, subject_param: str | None = None) -> Guard:
    """A guard admitting only ``roles``.

    With ``subject_param``, a portal token that names a subject reaches only the path
    parameter of that name equal to its own subject. Routes without ``subject_param`` hold no
    one subject's data (the purpose catalogue) or check ownership themselves (receipts).
    The guard is ``async`` so Litestar calls it inline rather than in a worker thread.
    """

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = authorize(connection.scope, roles)
        bound = principal.role == "portal" and principal.subject is not None
        wanted = connection.path_params.get(subject_param) if subject_param else None
        if bound and subject_param and wanted != principal.subject:
            raise Forbidden("This portal token is limited to another subject.")

    guard.roles = roles  # type: ignore[attr-defined]
    return guard


# Who may scrape ``/metrics``: a metrics token (``lupa token metrics``), or an admin.
SCRAPER_ROLES = ("metrics", "admin")


def requires_scraper() -> Guard:
    """A guard admitting a valid metrics token, else an admin access token.

    A metrics token is not an access token, so no other route's guard accepts it; anything
    that is not a valid metrics token is judged as an access token (401 if invalid, 403 for
    any role but admin).
    """

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        scope = connection.scope
        scheme, _sep, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token:
            verifier: AccessTokenVerifier = scope["litestar_app"].state[VERIFIER_STATE_KEY]
            try:
                verify_metrics_token(verifier.keyring, token.strip())
                return
            except InvalidToken:
                pass
        authorize(scope, ("admin",))

    guard.roles = SCRAPER_ROLES  # type: ignore[attr-defined]
    return guard


def assert_every_route_guarded(app: Litestar) -> None:
    """Fail fast if a route was added without a role guard or an explicit public marker."""
    for route in app.routes:
        if route.path.startswith(PUBLIC_PREFIXES):
            continue
        for handler in getattr(route, "route_handlers", []):
            if set(getattr(handler, "http_methods", ())) <= {"OPTIONS"}:
                continue  # CORS pre-flight handlers Litestar adds itself
            guards = handler.resolve_guards()
            public = handler.opt.get("public", False)
            if not guards and not public:
                raise RuntimeError(f"route {route.path} has neither a role guard nor opt public")


def route_roles(app: Litestar) -> list[tuple[str, str, tuple[str, ...] | None]]:
    """(method, path, roles) for every route; ``None`` roles means public (tests and docs)."""
    out = []
    for route in app.routes:
        if route.path.startswith(PUBLIC_PREFIXES):
            continue
        for handler in getattr(route, "route_handlers", []):
            roles: tuple[str, ...] | None = None
            for guard in handler.resolve_guards():
                # Litestar wraps sync guards in AsyncCallable; the original is ``.func``.
                roles = getattr(getattr(guard, "func", guard), "roles", roles)
            for method in sorted(getattr(handler, "http_methods", [])):
                if method not in ("HEAD", "OPTIONS"):
                    out.append((method, route.path, roles))
    return out
