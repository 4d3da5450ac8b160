"""Reading the chain: chained events in sequence order, as stored (verify) or as CloudEvents
(feed, SSE, sinks)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared.audit.cloudevents import CloudEvent, StoredEvent, to_cloudevent
from shared.audit.outbox import EVENT_TYPE_PREFIX
from shared.db.tables import audit_events


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which chained events a reader wants: of one type, about one subject (None: any)."""

    type: str | None = None
    subject: str | None = None


EVERY_EVENT = EventFilter()


def full_types(service: str, event_type: str) -> tuple[str, ...]:
    """The types a filter may mean: ``fi.lupa.consent.consent.granted`` (full),
    ``consent.consent.granted`` (after ``fi.lupa.``) or ``consent.granted`` (after
    ``fi.lupa.<service>.``, as docs/events.md and the NATS subjects spell it)."""
    if event_type.startswith(EVENT_TYPE_PREFIX):
        return (event_type,)
    return (f"{EVENT_TYPE_PREFIX}{event_type}", f"{EVENT_TYPE_PREFIX}{service}.{event_type}")


async def stored_events_after(
    db: AsyncConnection | AsyncSession,
    service: str,
    after: int,
    limit: int,
    only: EventFilter = EVERY_EVENT,
) -> list[StoredEvent]:
    """Up to ``limit`` chained rows with sequence > ``after``, oldest first."""
    query = (
        select(audit_events)
        .where(audit_events.c.service == service, audit_events.c.sequence > after)
        .order_by(audit_events.c.sequence)
        .limit(limit)
    )
    if only.type:
        query = query.where(audit_events.c.type.in_(full_types(service, only.type)))
    if only.subject:
        query = query.where(audit_events.c.subject == only.subject)
    return [StoredEvent(**row) for row in (await db.execute(query)).mappings()]


async def events_after(
    db: AsyncConnection | AsyncSession,
    service: str,
    after: int,
    limit: int,
    only: EventFilter = EVERY_EVENT,
) -> list[CloudEvent]:
    """``stored_events_after`` as CloudEvents."""
    return [
        to_cloudevent(row) for row in await stored_events_after(db, service, after, limit, only)
    ]
