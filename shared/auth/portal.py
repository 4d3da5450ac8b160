"""The portal backend's token: a portal token without a subject, whose one use is the token
exchange (``POST /v1/token``), which takes it in the body, never through a guard."""

from __future__ import annotations

from shared.auth.tokens import Principal
from shared.errors import UnboundPortalToken


def refuse_unbound_portal(principal: Principal) -> None:
    """An unbound portal token reads and changes no one's data: 403 ``unbound-portal-token``."""
    if principal.role == "portal" and principal.subject is None:
        raise UnboundPortalToken(
            "A portal token without a subject may only be exchanged for a subject-bound "
            "token at POST /v1/token."
        )
