"""Writing audit events the way services do (guarded session, same transaction), for tests."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.audit.outbox import AuditEvent, audited_sessions, record_event


async def write_event(engine: AsyncEngine, n: int, kind: str = "test.written") -> None:
    async with audited_sessions(engine)() as session, session.begin():
        await record_event(
            session, AuditEvent(service="consent", type=kind, subject=None, data={"n": n})
        )


async def bulk_insert(engine: AsyncEngine, count: int, kind: str = "test.bulk") -> None:
    """Many events in one statement (as fast as the outbox can take them)."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO audit_events (event_id, service, type, subject, time, data) "
                "SELECT gen_random_uuid(), 'consent', :type, 'subject-' || (g % 7), now(), "
                "jsonb_build_object('n', g) FROM generate_series(1, :count) g"
            ),
            {"type": f"fi.lupa.consent.{kind}", "count": count},
        )


async def chained_rows(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT id, sequence, data, txid FROM audit_events WHERE service = 'consent' "
                "ORDER BY sequence NULLS LAST, id"
            )
        )
        return [dict(r) for r in rows.mappings()]


async def session_for(engine: AsyncEngine) -> AsyncSession:
    return audited_sessions(engine)()
