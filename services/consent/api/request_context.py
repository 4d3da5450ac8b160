"""What a handler takes from the request beyond its body: deployment facts, evidence, GPC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.consent.service.evidence import Evidence
from services.consent.service.gpc import gpc_requested, object_if_gpc
from services.consent.service.receipts import LedgerContext
from shared.app_base import SESSION_FACTORY_KEY, WRITE_TRANSACTIONS_KEY
from shared.audit.outbox import AuditedTransactions
from shared.auth.tokens import Principal
from shared.db.statements import Transaction
from shared.keys import Keyring

LEDGER_CONTEXT_KEY = "ledger_context"


def ledger_context(request: Request[Any, Any, Any]) -> LedgerContext:
    """The deployment facts ``create_app`` built once from its settings."""
    return request.app.state[LEDGER_CONTEXT_KEY]  # type: ignore[no-any-return]


def evidence_of(request: Request[Any, Any, Any]) -> Evidence:
    """The direct peer's address (a proxy must be trusted explicitly before its headers are)."""
    ip = request.client.host if request.client else None
    return Evidence(ip=ip, user_agent=request.headers.get("user-agent"))


@asynccontextmanager
async def write_transaction(
    request: Request[Any, Any, Any], principal: Principal
) -> AsyncIterator[Transaction]:
    """A hot write handler's transaction: committed when the block ends (before the response
    goes out, so no client sees a success that did not commit), rolled back if it raises.

    A plain asyncpg transaction (prepared statements only, under the outbox guard) unless
    the write will honour ``Sec-GPC``: the objections it records run SQLAlchemy queries."""
    if gpc_requested(request.headers, principal.role):
        factory: async_sessionmaker[AsyncSession] = request.app.state[SESSION_FACTORY_KEY]
        async with factory() as session, session.begin():
            yield session
        return
    transactions: AuditedTransactions = request.app.state[WRITE_TRANSACTIONS_KEY]
    async with transactions.begin() as tx:
        yield tx


async def honour_gpc(
    tx: Transaction,
    keyring: Keyring,
    request: Request[Any, Any, Any],
    principal: Principal,
    external_id: str,
) -> None:
    """After any portal write: ``Sec-GPC: 1`` objects to sale/sharing (``service/gpc.py``)."""
    if not gpc_requested(request.headers, principal.role):
        return
    # write_transaction gives a session whenever Sec-GPC is honoured (objections need one).
    assert isinstance(tx, AsyncSession), "Sec-GPC honoured on a transaction without a session"
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
