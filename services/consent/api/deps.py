"""What consent handlers take from the request: the caller's principal, the keyring.

Hot write handlers call ``caller`` and ``keyring_of`` themselves and take the transaction as
their only dependency: Litestar resolves two or more dependencies of one level concurrently in
an anyio task group, which cost about 7% of a consent write's CPU.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from shared.app_base import KEYRING_KEY
from shared.auth.guards import principal_from
from shared.auth.tokens import Principal
from shared.errors import Unauthorized
from shared.keys import Keyring


def caller(request: Request[Any, Any, Any]) -> Principal:
    """The principal the route's guard verified."""
    principal = principal_from(request)
    if principal is None:  # guards run first, so this only guards against mis-wiring
        raise Unauthorized("This endpoint needs a bearer token.")
    return principal


def keyring_of(request: Request[Any, Any, Any]) -> Keyring:
    return request.app.state[KEYRING_KEY]  # type: ignore[no-any-return]


provide_principal = caller  # the ``principal`` dependency of the other handlers
