"""The lean write transactions (plain asyncpg, no session) keep the outbox rule: no change
commits without its audit event, and the connection goes back to the pool clean."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from services.consent.db.tables import purposes
from shared.audit.outbox import AuditedTransactions, AuditEvent, MissingAuditEvent, record_event
from shared.db import statements
from shared.db.statements import Statement
from shared.db.tables import audit_events

_INSERT_PURPOSE = Statement(
    "INSERT INTO purposes (key, legal_basis, channels, double_opt_in_channels,"
    " sale_or_sharing, current_version, min_accepted_version, created_at, updated_at)"
    " VALUES ($1, 'consent', ARRAY['email'], ARRAY[]::text[], false, 1, 1, $2, $2)"
)


async def _purpose_exists(session_factory, key: str) -> bool:
    async with session_factory() as session:
        found = await session.execute(select(purposes).where(purposes.c.key == key))
        return found.first() is not None


async def test_a_write_without_an_event_is_rolled_back(engine, session_factory):
    key = f"guard-{uuid.uuid4().hex[:8]}"
    with pytest.raises(MissingAuditEvent):
        async with AuditedTransactions(engine).begin() as tx:
            await statements.execute(tx, _INSERT_PURPOSE, key, datetime.now(UTC))
    assert not await _purpose_exists(session_factory, key)


async def test_a_write_with_its_event_commits_both(engine, session_factory):
    key = f"guard-{uuid.uuid4().hex[:8]}"
    event = AuditEvent(service="consent", type="purpose.created", subject=None, data={})
    async with AuditedTransactions(engine).begin() as tx:
        await statements.execute(tx, _INSERT_PURPOSE, key, datetime.now(UTC))
        await record_event(tx, event)
    assert await _purpose_exists(session_factory, key)
    async with session_factory() as session:
        row = await session.execute(select(audit_events).where(audit_events.c.event_id == event.id))
        assert row.one().type == "fi.lupa.consent.purpose.created"


async def test_a_failure_rolls_back_and_the_connection_is_reused_clean(engine, session_factory):
    key = f"guard-{uuid.uuid4().hex[:8]}"
    event = AuditEvent(service="consent", type="purpose.created", subject=None, data={})
    with pytest.raises(RuntimeError):
        async with AuditedTransactions(engine).begin() as tx:
            await statements.execute(tx, _INSERT_PURPOSE, key, datetime.now(UTC))
            await record_event(tx, event)
            raise RuntimeError("the change failed")
    assert not await _purpose_exists(session_factory, key)
    # The next transaction on the pool starts afresh (no transaction left open).
    async with AuditedTransactions(engine).begin() as tx:
        assert tx.driver.is_in_transaction()
        assert await tx.driver.fetchval("SELECT count(*) FROM purposes WHERE key = $1", key) == 0
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert not raw.driver_connection.is_in_transaction()
