"""Queries on the consent ledger, its projection and receipts.

The ledger is append-only (the database refuses UPDATE, DELETE and TRUNCATE); the projection is
upserted in the same transaction as each ledger row, under the subject's row lock.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db.tables import (
    consent_events,
    consent_state,
    purpose_versions,
    purposes,
    receipts,
    subjects,
)


async def lock_subject(session: AsyncSession, subject_id: uuid.UUID) -> dict[str, Any] | None:
    """The subject row by id, locked: every ledger writer of one subject queues here."""
    query = select(subjects).where(subjects.c.id == subject_id).with_for_update()
    row = (await session.execute(query)).mappings().first()
    return dict(row) if row else None


async def current_state(
    session: AsyncSession, subject_id: uuid.UUID, purpose_key: str, channel: str
) -> dict[str, Any] | None:
    query = select(consent_state).where(
        consent_state.c.subject_id == subject_id,
        consent_state.c.purpose_key == purpose_key,
        consent_state.c.channel == channel,
    )
    row = (await session.execute(query)).mappings().first()
    return dict(row) if row else None


async def append_event(session: AsyncSession, values: dict[str, Any]) -> dict[str, Any]:
    """Insert one ledger row; returns it with its id and recorded_at."""
    query = insert(consent_events).values(**values).returning(consent_events)
    return dict((await session.execute(query)).mappings().one())


async def upsert_state(
    session: AsyncSession, event: dict[str, Any], granted_at: datetime | None, now: datetime
) -> None:
    """Point the projection at ``event``, the newest ledger row for its purpose and channel."""
    values = {
        "state": event["state"],
        "purpose_version": event["purpose_version"],
        "granted_at": granted_at,
        "last_event_id": event["id"],
        "updated_at": now,
    }
    query = pg_insert(consent_state).values(
        subject_id=event["subject_id"],
        purpose_key=event["purpose_key"],
        channel=event["channel"],
        **values,
    )
    await session.execute(
        query.on_conflict_do_update(
            index_elements=[
                consent_state.c.subject_id,
                consent_state.c.purpose_key,
                consent_state.c.channel,
            ],
            set_=values,
        )
    )


async def states_for_subject(session: AsyncSession, subject_id: uuid.UUID) -> list[dict[str, Any]]:
    """Projection rows with the purpose terms needed to read them (validity, renewal)."""
    query = (
        select(
            consent_state,
            purposes.c.legal_basis,
            purposes.c.channels,
            purposes.c.double_opt_in_channels,
            purposes.c.validity_days,
            purposes.c.min_age,
            purposes.c.current_version,
            purposes.c.min_accepted_version,
        )
        .join(purposes, purposes.c.key == consent_state.c.purpose_key)
        .where(consent_state.c.subject_id == subject_id)
        .order_by(consent_state.c.purpose_key, consent_state.c.channel)
    )
    return [dict(r) for r in (await session.execute(query)).mappings().all()]


async def history(
    session: AsyncSession, subject_id: uuid.UUID, after: int, limit: int
) -> list[dict[str, Any]]:
    query = (
        select(consent_events)
        .where(consent_events.c.subject_id == subject_id, consent_events.c.id > after)
        .order_by(consent_events.c.id)
        .limit(limit)
    )
    return [dict(r) for r in (await session.execute(query)).mappings().all()]


async def event_by_uuid(session: AsyncSession, event_id: uuid.UUID) -> dict[str, Any] | None:
    query = select(consent_events).where(consent_events.c.event_id == event_id)
    row = (await session.execute(query)).mappings().first()
    return dict(row) if row else None


async def confirmed_after(session: AsyncSession, event: dict[str, Any]) -> bool:
    """Whether a confirm event follows ``event`` on its purpose and channel."""
    query = (
        select(func.count())
        .select_from(consent_events)
        .where(
            consent_events.c.subject_id == event["subject_id"],
            consent_events.c.purpose_key == event["purpose_key"],
            consent_events.c.channel == event["channel"],
            consent_events.c.action == "confirm",
            consent_events.c.id > event["id"],
        )
    )
    return bool((await session.execute(query)).scalar_one())


async def purpose_text(session: AsyncSession, purpose_key: str, version: int) -> dict[str, Any]:
    query = select(purpose_versions).where(
        purpose_versions.c.purpose_key == purpose_key, purpose_versions.c.version == version
    )
    return dict((await session.execute(query)).mappings().one())


async def granted_past_validity(
    session: AsyncSession,
    now: datetime,
    limit: int,
    after_event_id: int = 0,
    purpose_key: str | None = None,
) -> list[dict[str, Any]]:
    """Projection rows still 'granted' whose validity has run out, in keyset pages."""
    query = (
        select(
            consent_state.c.subject_id,
            consent_state.c.purpose_key,
            consent_state.c.channel,
            consent_state.c.last_event_id,
        )
        .join(purposes, purposes.c.key == consent_state.c.purpose_key)
        .where(
            consent_state.c.state == "granted",
            purposes.c.validity_days.is_not(None),
            consent_state.c.granted_at + func.make_interval(0, 0, 0, purposes.c.validity_days)
            < now,
            consent_state.c.last_event_id > after_event_id,
        )
        .order_by(consent_state.c.last_event_id)
        .limit(limit)
    )
    if purpose_key is not None:
        query = query.where(consent_state.c.purpose_key == purpose_key)
    return [dict(r) for r in (await session.execute(query)).mappings().all()]


async def insert_receipt(
    session: AsyncSession,
    receipt_id: uuid.UUID,
    subject_id: uuid.UUID,
    event_id: uuid.UUID,
    jws: str,
    now: datetime,
) -> None:
    await session.execute(
        insert(receipts).values(
            id=receipt_id, subject_id=subject_id, event_id=event_id, jws=jws, created_at=now
        )
    )


async def get_receipt(session: AsyncSession, receipt_id: uuid.UUID) -> dict[str, Any] | None:
    """The receipt with its subject's external id and erasure mark (for owner checks)."""
    query = (
        select(receipts, subjects.c.external_id, subjects.c.erased_at)
        .join(subjects, subjects.c.id == receipts.c.subject_id)
        .where(receipts.c.id == receipt_id)
    )
    row = (await session.execute(query)).mappings().first()
    return dict(row) if row else None
