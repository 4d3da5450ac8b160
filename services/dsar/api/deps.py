"""What DSAR handlers take from the request: the caller's principal and the service settings."""

from __future__ import annotations

from typing import Any

from litestar import Request

from services.dsar.settings import DsarSettings
from shared.auth.guards import principal_from
from shared.auth.tokens import Principal
from shared.errors import Unauthorized

DSAR_SETTINGS_KEY = "dsar_settings"


def caller(request: Request[Any, Any, Any]) -> Principal | None:
    """The verified principal, or None for a public route called without a token."""
    return principal_from(request)


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = principal_from(request)
    if principal is None:  # guards run first, so this only guards against mis-wiring
        raise Unauthorized("This endpoint needs a bearer token.")
    return principal


def dsar_settings(request: Request[Any, Any, Any]) -> DsarSettings:
    return request.app.state[DSAR_SETTINGS_KEY]  # type: ignore[no-any-return]
