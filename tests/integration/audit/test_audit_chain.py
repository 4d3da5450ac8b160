"""The chainer: every committed event gets one place in the chain, never changed after."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from shared.audit.chain import chain_pending
from shared.audit.checkpoints import CheckpointPolicy
from shared.audit.outbox import AuditEvent, record_event
from tests.integration.audit.events import chained_rows, session_for, write_event


async def test_concurrent_writers_get_one_gapless_sequence(scratch_engine):
    async def writer(w: int) -> None:
        for i in range(15):
            await write_event(scratch_engine, w * 100 + i)

    async def chainer() -> None:
        for _ in range(20):
            await chain_pending(scratch_engine, "consent")

    await asyncio.gather(*(writer(w) for w in range(12)), chainer(), chainer())
    await chain_pending(scratch_engine, "consent")
    rows = await chained_rows(scratch_engine)
    assert [r["sequence"] for r in rows] == list(range(1, 12 * 15 + 1))


async def test_a_slow_transaction_is_chained_after_the_others_and_never_skipped(scratch_engine):
    await write_event(scratch_engine, 0)
    slow = await session_for(scratch_engine)
    await slow.begin()
    await record_event(
        slow, AuditEvent(service="consent", type="test.slow", subject=None, data={"n": -1})
    )  # takes its id before the others
    for n in range(1, 6):
        await write_event(scratch_engine, n)
    await chain_pending(scratch_engine, "consent")
    seen_by_reader = [r["data"]["n"] for r in await chained_rows(scratch_engine) if r["sequence"]]
    assert seen_by_reader == [0, 1, 2, 3, 4, 5]

    await slow.commit()
    await slow.close()
    await chain_pending(scratch_engine, "consent")
    rows = await chained_rows(scratch_engine)
    assert [r["sequence"] for r in rows] == list(range(1, 8))
    assert [r["data"]["n"] for r in rows] == [0, 1, 2, 3, 4, 5, -1]


async def test_a_rolled_back_event_never_enters_the_chain(scratch_engine):
    session = await session_for(scratch_engine)
    await session.begin()
    await record_event(
        session, AuditEvent(service="consent", type="test.gone", subject=None, data={"n": 99})
    )
    await session.rollback()
    await session.close()
    await write_event(scratch_engine, 1)
    await chain_pending(scratch_engine, "consent")
    assert [r["data"]["n"] for r in await chained_rows(scratch_engine)] == [1]


async def test_a_chained_event_cannot_be_changed_or_deleted(scratch_engine):
    await write_event(scratch_engine, 1)
    await chain_pending(scratch_engine, "consent")
    for statement in ("UPDATE audit_events SET data = '{}'", "DELETE FROM audit_events"):
        async with scratch_engine.connect() as conn:
            try:
                await conn.execute(text(statement))
            except Exception as exc:  # the trigger refuses it
                assert "chained" in str(exc)
            else:
                raise AssertionError(f"{statement} was allowed")


async def test_the_audit_tables_cannot_be_truncated(scratch_engine, keyring):
    await write_event(scratch_engine, 1)
    await chain_pending(
        scratch_engine, "consent", keyring=keyring, policy=CheckpointPolicy(every=1)
    )
    for statement in (
        "TRUNCATE audit_events",
        "TRUNCATE audit_events CASCADE",
        "TRUNCATE audit_checkpoints",
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_checkpoints SET token = 'forged'",
    ):
        async with scratch_engine.connect() as conn:
            try:
                await conn.execute(text(statement))
            except Exception as exc:  # a trigger refuses it
                assert "append-only" in str(exc), statement
            else:
                raise AssertionError(f"{statement} was allowed")
    assert [r["data"]["n"] for r in await chained_rows(scratch_engine)] == [1]
