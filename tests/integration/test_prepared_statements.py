"""Prepared statements on the session's connection: in its transaction, seen by the outbox
guard like any other write."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from services.consent.db.tables import purposes
from shared.audit.outbox import AuditEvent, MissingAuditEvent, record_event
from shared.db import statements
from shared.db.statements import Statement, written_tables

INSERT_PURPOSE = Statement(
    "INSERT INTO purposes (key, legal_basis, channels, double_opt_in_channels, sale_or_sharing,"
    " current_version, min_accepted_version, created_at, updated_at)"
    " VALUES ($1, 'consent', '{email}', '{}', false, 1, 1, now(), now())"
)


async def _exists(session_factory, key: str) -> bool:
    async with session_factory() as session:
        query = select(purposes.c.key).where(purposes.c.key == key)
        return (await session.execute(query)).first() is not None


async def test_a_prepared_write_without_an_event_is_refused_and_rolled_back(session_factory):
    key = f"prep-{uuid.uuid4().hex[:8]}"
    with pytest.raises(MissingAuditEvent):
        async with session_factory() as session, session.begin():
            await statements.execute(session, INSERT_PURPOSE, key)
    assert not await _exists(session_factory, key)


async def test_a_prepared_write_commits_with_its_event(session_factory):
    key = f"prep-{uuid.uuid4().hex[:8]}"
    async with session_factory() as session, session.begin():
        await statements.execute(session, INSERT_PURPOSE, key)
        # Shaped like the service's own event: other tests read every purpose.created.
        event = AuditEvent(
            service="consent", type="purpose.created", subject=None, data={"purpose": key}
        )
        await record_event(session, event)
    assert await _exists(session_factory, key)


async def test_a_prepared_write_rolls_back_with_the_transaction(session_factory):
    key = f"prep-{uuid.uuid4().hex[:8]}"
    with pytest.raises(RuntimeError):
        async with session_factory() as session, session.begin():
            await statements.execute(session, INSERT_PURPOSE, key)
            raise RuntimeError("the request failed after the write")
    assert not await _exists(session_factory, key)


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ("SELECT * FROM subjects WHERE id = $1 FOR UPDATE", set()),
        ("SELECT * FROM subjects s WHERE s.id = $1 FOR NO KEY UPDATE OF s", set()),
        (
            "INSERT INTO consent_state (a) VALUES ($1) ON CONFLICT (a) DO UPDATE SET a = $1",
            {"consent_state"},
        ),
        (
            "WITH ev AS (INSERT INTO consent_events (a) VALUES ($1) RETURNING id) "
            "UPDATE subjects SET b = 1; DELETE FROM receipts",
            {"consent_events", "subjects", "receipts"},
        ),
    ],
)
def test_the_tables_a_statement_changes_are_read_from_its_sql(sql, tables):
    assert written_tables(sql) == tables


async def test_a_second_transaction_on_one_session_runs_in_its_own_transaction(session_factory):
    """The connection is looked up once per transaction, never carried into the next one."""
    first, second = (f"prep-{uuid.uuid4().hex[:8]}" for _ in range(2))
    event = AuditEvent(
        service="consent", type="purpose.created", subject=None, data={"purpose": first}
    )
    async with session_factory() as session:
        async with session.begin():
            await statements.execute(session, INSERT_PURPOSE, first)
            await record_event(session, event)
        with pytest.raises(RuntimeError):
            async with session.begin():
                await statements.execute(session, INSERT_PURPOSE, second)
                raise RuntimeError("the second job failed")
    assert await _exists(session_factory, first)
    assert not await _exists(session_factory, second)
