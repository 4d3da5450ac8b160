"""Rate-limit guards for the public endpoints that take a signed link or a pasted token.

Each request counts once per client address and, where it carries one, once per link token,
in one statement against PostgreSQL (``shared.rate_limits``), so every replica counts the
same hits. The guard runs before the handler: an over-limit request changes nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.types import Guard

from shared.client_address import client_address
from shared.rate_limits import Limit, hit_all
from shared.settings import Settings

Kind = Literal["link", "sign-in"]


def requester_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The client's address as the app's settings say to read it (trusted proxies)."""
    settings: Settings = connection.app.state["settings"]
    return client_address(connection.scope, settings.http.trusted_proxies)


def limited(kind: Kind, path_param: str | None = None, query_param: str | None = None) -> Guard:
    """A guard counting a hit per client address and per token (the path parameter
    ``path_param`` or the query parameter ``query_param``, when given)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        state = connection.app.state
        settings: Settings = state["settings"]
        token = _token(connection, path_param, query_param)
        if kind == "link" and query_param and token is None:
            return  # no link on this visit (a session cookie or bearer token instead)
        window = settings.limits.window_s
        per_ip = (
            settings.limits.sign_in_per_ip if kind == "sign-in" else settings.limits.link_per_ip
        )
        hits = [(Limit(f"{kind}-ip", per_ip, window), requester_address(connection))]
        if token is not None:
            hits.append((Limit(f"{kind}-token", settings.limits.link_per_token, window), token))
        await hit_all(state["session_factory"], state["keyring"].evidence_key, hits)

    return guard


def _token(
    connection: ASGIConnection[Any, Any, Any, Any], param: str | None, query: str | None
) -> str | None:
    if param is not None:
        value = connection.path_params.get(param)
        return str(value) if value is not None else None
    if query is not None:
        return connection.query_params.get(query)
    return None
