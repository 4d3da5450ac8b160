"""Reading the chain: chained events in sequence order, as CloudEvents (feed, SSE, sinks)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared.audit.cloudevents import to_cloudevent
from shared.audit.outbox import EVENT_TYPE_PREFIX
from shared.db.tables import audit_events


def full_types(service: str, event_type: str) -> tuple[str, ...]:
    """The types a filter may mean: ``fi.lupa.consent.consent.granted`` (full),
    ``consent.consent.granted`` (after ``fi.lupa.``) or ``consent.granted`` (after
    ``fi.lupa.<service>.``, as docs/events.md and the NATS subjects spell it)."""
    if event_type.startswith(EVENT_TYPE_PREFIX):
        return (event_type,)
    return (f"{EVENT_TYPE_PREFIX}{event_type}", f"{EVENT_TYPE_PREFIX}{service}.{event_type}")


async def events_after(
    db: AsyncConnection | AsyncSession,
    service: str,
    after: int,
    limit: int,
    *,
    event_type: str | None = None,
    subject: str | None = None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` chained events with sequence > ``after``, oldest first."""
    query = (
        select(audit_events)
        .where(audit_events.c.service == service, audit_events.c.sequence > after)
        .order_by(audit_events.c.sequence)
        .limit(limit)
    )
    if event_type:
        query = query.where(audit_events.c.type.in_(full_types(service, event_type)))
    if subject:
        query = query.where(audit_events.c.subject == subject)
    rows = (await db.execute(query)).mappings().all()
    return [to_cloudevent(dict(row)) for row in rows]
