"""What a handler takes from the request beyond its body: deployment facts, evidence, GPC."""

from __future__ import annotations

from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.service.evidence import Evidence
from services.consent.service.gpc import object_if_gpc
from services.consent.service.receipts import LedgerContext
from shared.auth.tokens import Principal
from shared.keys import Keyring

LEDGER_CONTEXT_KEY = "ledger_context"


def ledger_context(request: Request[Any, Any, Any]) -> LedgerContext:
    """The deployment facts ``create_app`` built once from its settings."""
    return request.app.state[LEDGER_CONTEXT_KEY]  # type: ignore[no-any-return]


def evidence_of(request: Request[Any, Any, Any]) -> Evidence:
    """The direct peer's address (a proxy must be trusted explicitly before its headers are)."""
    ip = request.client.host if request.client else None
    return Evidence(ip=ip, user_agent=request.headers.get("user-agent"))


async def honour_gpc(
    tx: AsyncSession,
    keyring: Keyring,
    request: Request[Any, Any, Any],
    principal: Principal,
    external_id: str,
) -> None:
    """After any portal write: ``Sec-GPC: 1`` objects to sale/sharing (``service/gpc.py``)."""
    await object_if_gpc(
        tx,
        keyring,
        ledger_context(request),
        request.headers,
        principal.role,
        external_id,
        principal.actor,
        evidence_of(request),
    )
