"""No change without its audit event: the session refuses to commit one."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import insert, select, text

from services.consent.db.tables import purpose_versions, purposes
from shared.audit.outbox import AuditEvent, MissingAuditEvent, record_event
from shared.db.tables import audit_events


async def _insert_purpose(session, key: str) -> None:
    await session.execute(
        insert(purposes).values(
            key=key,
            legal_basis="consent",
            channels=["email"],
            double_opt_in_channels=[],
            sale_or_sharing=False,
            current_version=1,
            min_accepted_version=1,
            created_at=__import__("datetime").datetime.now(__import__("datetime").UTC),
            updated_at=__import__("datetime").datetime.now(__import__("datetime").UTC),
        )
    )


async def test_a_write_without_an_event_is_rolled_back(session_factory):
    key = f"guard-{uuid.uuid4().hex[:8]}"
    with pytest.raises(MissingAuditEvent):
        async with session_factory() as session, session.begin():
            await _insert_purpose(session, key)
    async with session_factory() as session:
        assert (
            await session.execute(select(purposes).where(purposes.c.key == key))
        ).first() is None


async def test_a_write_with_its_event_commits_both(session_factory):
    key = f"guard-{uuid.uuid4().hex[:8]}"
    event = AuditEvent(
        service="consent", type="purpose.created", subject=None, data={"purpose": key}
    )
    async with session_factory() as session, session.begin():
        await _insert_purpose(session, key)
        await record_event(session, event)
    async with session_factory() as session:
        assert (await session.execute(select(purposes).where(purposes.c.key == key))).first()
        row = (
            await session.execute(select(audit_events).where(audit_events.c.event_id == event.id))
        ).one()
        assert row.type == "fi.lupa.consent.purpose.created"


async def test_an_event_is_gone_when_its_change_rolls_back(session_factory):
    event = AuditEvent(service="consent", type="purpose.created", subject=None, data={})
    with pytest.raises(RuntimeError):
        async with session_factory() as session, session.begin():
            await record_event(session, event)
            raise RuntimeError("the change failed")
    async with session_factory() as session:
        assert (
            await session.execute(select(audit_events).where(audit_events.c.event_id == event.id))
        ).first() is None


async def test_reads_alone_need_no_event(session_factory):
    async with session_factory() as session, session.begin():
        await session.execute(select(purpose_versions).limit(1))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE purposes SET updated_at = now() WHERE key = :key",
        "  delete from purposes WHERE key = :key",
        "WITH gone AS (DELETE FROM purposes WHERE key = :key RETURNING key) SELECT * FROM gone",
    ],
)
async def test_a_raw_sql_write_without_an_event_is_refused_too(session_factory, statement):
    key = f"guard-{uuid.uuid4().hex[:8]}"
    with pytest.raises(MissingAuditEvent):
        async with session_factory() as session, session.begin():
            await session.execute(text(statement), {"key": key})


async def test_raw_sql_reads_and_row_locks_need_no_event(session_factory):
    async with session_factory() as session, session.begin():
        await session.execute(text("SELECT key FROM purposes LIMIT 1 FOR UPDATE SKIP LOCKED"))
        await session.execute(text("WITH p AS (SELECT 1) SELECT * FROM p"))
