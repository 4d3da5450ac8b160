"""Queries on the consent ledger, its projection and receipts.

The ledger is append-only (the database refuses UPDATE, DELETE and TRUNCATE); the projection is
upserted in the same transaction as each ledger row, under the subject's row lock.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Row, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import subjects as subject_repo
from services.consent.db.subjects import SubjectRow
from services.consent.db.tables import (
    consent_events,
    consent_state,
    purposes,
    receipts,
    row_reader,
    subjects,
)
from services.consent.domain.consents import LedgerEvent, NewEvent, PurposeTerms, StoredState


class StoredEvent(msgspec.Struct, frozen=True):
    """A ledger row: the event as shown, plus what only the ledger's own readers need."""

    id: int  # the ledger's order; shown as a history entry's ``sequence``
    subject_id: uuid.UUID
    event: LedgerEvent
    reason_ct: bytes | None


class ConsentStateRow(msgspec.Struct, frozen=True):
    """The projection row of one subject, purpose and channel: where its ledger stands."""

    subject_id: uuid.UUID
    purpose_key: str
    channel: str
    state: str
    purpose_version: int
    granted_at: datetime | None
    last_event_id: int
    updated_at: datetime

    @property
    def stored(self) -> StoredState:
        return StoredState(self.state, self.purpose_version, self.granted_at)


class ExpiryCandidate(msgspec.Struct, frozen=True):
    """A projection row still 'granted' past its purpose's validity, as listed."""

    subject_id: uuid.UUID
    purpose_key: str
    channel: str
    last_event_id: int


class ReceiptRow(msgspec.Struct, frozen=True):
    """A stored receipt with its subject's external id and erasure mark (for owner checks)."""

    id: uuid.UUID
    event_id: uuid.UUID
    jws: str
    created_at: datetime
    external_id: str
    erased_at: datetime | None


_read_state = row_reader(consent_state.c.keys(), ConsentStateRow)
RECEIPT_COLUMNS = (receipts, subjects.c.external_id, subjects.c.erased_at)
_read_receipt = row_reader(select(*RECEIPT_COLUMNS).selected_columns.keys(), ReceiptRow)
_read_public_event = row_reader(consent_events.c.keys(), LedgerEvent)
TERMS_COLUMNS = (
    purposes.c.legal_basis,
    purposes.c.channels,
    purposes.c.double_opt_in_channels,
    purposes.c.validity_days,
    purposes.c.min_age,
    purposes.c.current_version,
    purposes.c.min_accepted_version,
)


def _read_event(row: Row[*tuple[Any, ...]]) -> StoredEvent:
    return StoredEvent(row.id, row.subject_id, _read_public_event(row), row.reason_ct)


async def lock_subject(session: AsyncSession, subject_id: uuid.UUID) -> SubjectRow | None:
    """The subject row by id, locked: every ledger writer of one subject queues here."""
    return await subject_repo.get_by_id(session, subject_id, for_update=True)


async def current_state(
    session: AsyncSession, subject_id: uuid.UUID, purpose_key: str, channel: str
) -> ConsentStateRow | None:
    query = select(consent_state).where(
        consent_state.c.subject_id == subject_id,
        consent_state.c.purpose_key == purpose_key,
        consent_state.c.channel == channel,
    )
    row = (await session.execute(query)).first()
    return _read_state(row) if row else None


async def append_event(
    session: AsyncSession, subject_id: uuid.UUID, new: NewEvent, reason_ct: bytes | None
) -> StoredEvent:
    """Insert one ledger row under a fresh event id; the database stamps ``recorded_at``."""
    query = (
        insert(consent_events)
        .values(
            event_id=uuid.uuid4(),
            subject_id=subject_id,
            purpose_key=new.purpose.key,
            purpose_version=new.version,
            channel=new.channel,
            action=new.action,
            state=new.state,
            source=new.source,
            actor=new.actor,
            given_by=new.given_by,
            collection_method=new.collection_method,
            page=new.page,
            ip_hash=new.ip_hash,
            ua_hash=new.ua_hash,
            reason_ct=reason_ct,
            occurred_at=new.occurred_at,
        )
        .returning(consent_events)
    )
    return _read_event((await session.execute(query)).one())


async def upsert_state(
    session: AsyncSession, stored: StoredEvent, granted_at: datetime | None, now: datetime
) -> None:
    """Point the projection at ``stored``, the newest ledger row for its purpose and channel."""
    event = stored.event
    values = {
        "state": event.state,
        "purpose_version": event.purpose_version,
        "granted_at": granted_at,
        "last_event_id": stored.id,
        "updated_at": now,
    }
    query = pg_insert(consent_state).values(
        subject_id=stored.subject_id,
        purpose_key=event.purpose_key,
        channel=event.channel,
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


async def states_for_subject(
    session: AsyncSession, subject_id: uuid.UUID
) -> list[tuple[ConsentStateRow, PurposeTerms]]:
    """Projection rows with the purpose terms needed to read them (validity, renewal)."""
    query = (
        select(consent_state, *TERMS_COLUMNS)
        .join(purposes, purposes.c.key == consent_state.c.purpose_key)
        .where(consent_state.c.subject_id == subject_id)
        .order_by(consent_state.c.purpose_key, consent_state.c.channel)
    )
    return [_state_with_terms(row) for row in (await session.execute(query)).all()]


def _state_with_terms(row: Row[*tuple[Any, ...]]) -> tuple[ConsentStateRow, PurposeTerms]:
    state = _read_state(row)
    terms = PurposeTerms(
        key=state.purpose_key,
        legal_basis=row.legal_basis,
        channels=tuple(row.channels),
        double_opt_in_channels=tuple(row.double_opt_in_channels),
        validity_days=row.validity_days,
        min_age=row.min_age,
        current_version=row.current_version,
        min_accepted_version=row.min_accepted_version,
    )
    return state, terms


async def history(
    session: AsyncSession, subject_id: uuid.UUID, after: int, limit: int
) -> list[StoredEvent]:
    query = (
        select(consent_events)
        .where(consent_events.c.subject_id == subject_id, consent_events.c.id > after)
        .order_by(consent_events.c.id)
        .limit(limit)
    )
    return [_read_event(row) for row in (await session.execute(query)).all()]


async def event_by_uuid(session: AsyncSession, event_id: uuid.UUID) -> StoredEvent | None:
    query = select(consent_events).where(consent_events.c.event_id == event_id)
    row = (await session.execute(query)).first()
    return _read_event(row) if row else None


async def confirmed_after(session: AsyncSession, stored: StoredEvent) -> bool:
    """Whether a confirm event follows ``stored`` on its purpose and channel."""
    query = (
        select(func.count())
        .select_from(consent_events)
        .where(
            consent_events.c.subject_id == stored.subject_id,
            consent_events.c.purpose_key == stored.event.purpose_key,
            consent_events.c.channel == stored.event.channel,
            consent_events.c.action == "confirm",
            consent_events.c.id > stored.id,
        )
    )
    return bool((await session.execute(query)).scalar_one())


async def granted_past_validity(
    session: AsyncSession,
    now: datetime,
    limit: int,
    after_event_id: int = 0,
    purpose_key: str | None = None,
) -> list[ExpiryCandidate]:
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
    return [ExpiryCandidate(*row) for row in (await session.execute(query)).all()]


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


async def get_receipt(session: AsyncSession, receipt_id: uuid.UUID) -> ReceiptRow | None:
    """The receipt with its subject's external id and erasure mark (for owner checks)."""
    query = (
        select(*RECEIPT_COLUMNS)
        .join(subjects, subjects.c.id == receipts.c.subject_id)
        .where(receipts.c.id == receipt_id)
    )
    row = (await session.execute(query)).first()
    return _read_receipt(row) if row else None
