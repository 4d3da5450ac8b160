"""Dependencies shared by the consent controllers."""

from __future__ import annotations

from typing import Any

from litestar import Request

from shared.auth.guards import principal_from
from shared.auth.tokens import Principal
from shared.errors import Unauthorized


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = principal_from(request)
    if principal is None:  # guards run first, so this only guards against mis-wiring
        raise Unauthorized("This endpoint needs a bearer token.")
    return principal
