"""Queries on the consent ledger, its projection and receipts.

The ledger is append-only (the database refuses UPDATE, DELETE and TRUNCATE); the projection is
upserted in the same transaction as each ledger row, under the subject's row lock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import subjects as subject_repo
from services.consent.db.subjects import SubjectRow, WrappedKey
from services.consent.db.tables import (
    consent_events,
    consent_state,
    purposes,
    receipts,
    row_reader,
    subjects,
)
from services.consent.domain.consents import LedgerEvent, NewEvent, PurposeTerms, StoredState
from services.consent.domain.purposes import Purpose
from shared.audit.outbox import AUDIT_COLUMNS, AuditEvent, audit_row, note_recorded
from shared.db import statements
from shared.db.statements import Statement, Transaction


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

_STATE_COLUMNS = ", ".join(ConsentStateRow.__struct_fields__)
_CURRENT_STATE = Statement(
    f"SELECT {_STATE_COLUMNS} FROM consent_state"  # noqa: S608 (struct field names, no input)
    " WHERE subject_id = $1 AND purpose_key = $2 AND channel = $3"
)
# One round trip appends the ledger row, points the projection at it (firing the check_facts
# triggers), stores the event's receipt and its audit event; it answers with only what the
# database stamps (the ledger id, recorded_at): the rest of the event and of the projection
# row is what was sent, and decoding ~25 columns back cost more than the statement's encoding.
# Parameters as PendingAppend.values() orders them.
EVENT_COLUMNS = (
    "event_id, subject_id, purpose_key, purpose_version, channel, action, state, source, actor,"
    " given_by, collection_method, page, ip_hash, ua_hash, reason_ct, occurred_at"
)
STATE_COLUMNS = (
    "subject_id, purpose_key, channel, state, purpose_version, granted_at, last_event_id,"
    " updated_at"
)
# The projection row points at the newest ledger row of its subject, purpose and channel.
STATE_ON_CONFLICT = (
    " ON CONFLICT (subject_id, purpose_key, channel) DO UPDATE SET state = EXCLUDED.state,"
    " purpose_version = EXCLUDED.purpose_version, granted_at = EXCLUDED.granted_at,"
    " last_event_id = EXCLUDED.last_event_id, updated_at = EXCLUDED.updated_at"
)
_AUDIT_PARAMS = ", ".join(f"${n}" for n in range(22, 22 + len(AUDIT_COLUMNS)))
_EVENT_PARAMS = ", ".join(f"${n}" for n in range(1, 17))
_APPEND = Statement(
    "WITH ev AS ("  # noqa: S608 (column names, no input)
    f" INSERT INTO consent_events ({EVENT_COLUMNS}) VALUES ({_EVENT_PARAMS})"
    " RETURNING id, recorded_at"
    "), st AS ("
    f" INSERT INTO consent_state ({STATE_COLUMNS})"
    f" SELECT $2, $3, $5, $7, $4, $17, ev.id, $18 FROM ev{STATE_ON_CONFLICT}"
    "), rc AS ("
    " INSERT INTO receipts (id, subject_id, event_id, jws, created_at)"
    " SELECT $19, $2, $1, $20, $21 FROM ev"
    "), au AS ("
    f" INSERT INTO audit_events ({', '.join(AUDIT_COLUMNS)}) SELECT {_AUDIT_PARAMS} FROM ev"
    ") SELECT id, recorded_at FROM ev"
)


# The facts a write needs, read once the subject's row lock is held (migration c0005 says why
# that takes a function): the subject, the purpose with its current text, the wrapped data key
# and the current state, each NULL when absent.
def _field(column: str, name: str) -> str:
    return f"(f.{column}).{name}"


_PURPOSE_FIELDS_SQL = ", ".join(
    f"f.{name}" if name in ("title", "description") else _field("purpose", name)
    for name in Purpose.__struct_fields__
)
SUBJECT_FIELDS = len(SubjectRow.__struct_fields__)
PURPOSE_FIELDS = len(Purpose.__struct_fields__)
_WRITE_FACTS = Statement(
    "SELECT "  # noqa: S608 (struct field names, no input)
    + ", ".join(_field("subject", name) for name in SubjectRow.__struct_fields__)
    + f", {_PURPOSE_FIELDS_SQL}, (f.key).kek_id, (f.key).wrapped_dek, "
    + ", ".join(_field("state", name) for name in ConsentStateRow.__struct_fields__)
    + " FROM consent_write_facts($1, $2, $3) f"
)


class ReadVersion(msgspec.Struct, frozen=True):
    """Where an unlocked read found the subject: its row version and its current state's
    ledger row (None: no state yet). A write decided on that read commits only if both are
    still so once the subject is locked."""

    subject_xmin: int
    last_event_id: int | None


class WriteFacts(msgspec.Struct, frozen=True):
    """What a consent write starts from: read with its subject locked, or (``read_at`` set)
    read without a lock, for a write that commits only if nothing changed since
    (``services.consent.db.optimistic``)."""

    subject: SubjectRow
    purpose: Purpose | None  # None: there is no such purpose
    key: WrappedKey | None  # None: the subject's data key was shredded
    state: ConsentStateRow | None  # None: nothing recorded yet for this purpose and channel
    read_at: ReadVersion | None = None  # set by optimistic.read_many_for_write


class NewReceipt(msgspec.Struct, frozen=True):
    """A signed receipt as it is to be stored beside its event."""

    id: uuid.UUID
    jws: str
    created_at: datetime


def _read_event(row: Row[*tuple[Any, ...]]) -> StoredEvent:
    return StoredEvent(row.id, row.subject_id, _read_public_event(row), row.reason_ct)


async def lock_for_write(
    session: Transaction, external_id: str, purpose_key: str, channel: str
) -> WriteFacts | None:
    """Lock the subject by external id (every ledger writer of one subject queues here) and
    read what a write of ``purpose_key`` on ``channel`` needs; None if there is no subject."""
    row = await statements.fetchrow(session, _WRITE_FACTS, external_id, purpose_key, channel)
    return facts_of(tuple(row)) if row is not None else None


def facts_of(values: tuple[Any, ...]) -> WriteFacts:
    """The facts from a row of the subject's, the purpose's, the key's and the state's
    columns, in the structs' field order (NULLs for what is absent)."""
    at = SUBJECT_FIELDS + PURPOSE_FIELDS
    purpose, (kek_id, wrapped), state = (
        values[SUBJECT_FIELDS:at],
        values[at : at + 2],
        values[at + 2 :],
    )
    return WriteFacts(
        SubjectRow(*values[:SUBJECT_FIELDS]),
        Purpose(*purpose) if purpose[0] is not None else None,
        WrappedKey(kek_id, wrapped) if kek_id is not None else None,
        ConsentStateRow(*state) if state[0] is not None else None,
    )


async def lock_subject(session: AsyncSession, subject_id: uuid.UUID) -> SubjectRow | None:
    """The subject row by id, locked: every ledger writer of one subject queues here."""
    return await subject_repo.get_by_id(session, subject_id, for_update=True)


async def current_state(
    session: Transaction, subject_id: uuid.UUID, purpose_key: str, channel: str
) -> ConsentStateRow | None:
    row = await statements.fetchrow(session, _CURRENT_STATE, subject_id, purpose_key, channel)
    return ConsentStateRow(*row) if row else None


@dataclass(frozen=True, slots=True)
class PendingAppend:
    """One event ready to be appended: every value its ledger row, projection, receipt and
    audit event are written with (the database adds only the ledger id and recorded_at)."""

    subject_id: uuid.UUID
    event_id: uuid.UUID
    new: NewEvent
    reason_ct: bytes | None
    receipt: NewReceipt
    audit: AuditEvent

    @property
    def granted_at(self) -> datetime | None:
        return self.new.occurred_at if self.new.state == "granted" else None

    def values(self) -> tuple[Any, ...]:
        """The parameters of ``_APPEND``, in order: $1..$16 the event, $17/$18 the
        projection's granted_at and updated_at, $19..$21 the receipt, then the audit row."""
        new, receipt = self.new, self.receipt
        return (
            self.event_id,
            self.subject_id,
            new.purpose.key,
            new.version,
            new.channel,
            new.action,
            new.state,
            new.source,
            new.actor,
            new.given_by,
            new.collection_method,
            new.page,
            new.ip_hash,
            new.ua_hash,
            self.reason_ct,
            new.occurred_at,
            self.granted_at,
            receipt.created_at,
            receipt.id,
            receipt.jws,
            receipt.created_at,
            *audit_row(self.audit),
        )

    def stored(self, ledger_id: int, recorded_at: datetime) -> tuple[StoredEvent, ConsentStateRow]:
        """The event and projection row as written, given what the database stamped."""
        new = self.new
        event = LedgerEvent(
            self.event_id,
            new.purpose.key,
            new.version,
            new.channel,
            new.action,
            new.state,
            new.source,
            new.actor,
            new.given_by,
            new.collection_method,
            new.page,
            new.occurred_at,
            recorded_at,
        )
        state = ConsentStateRow(
            self.subject_id,
            new.purpose.key,
            new.channel,
            new.state,
            new.version,
            self.granted_at,
            ledger_id,
            self.receipt.created_at,  # the projection's updated_at
        )
        return StoredEvent(ledger_id, self.subject_id, event, self.reason_ct), state


async def append(
    session: Transaction, pending: PendingAppend
) -> tuple[StoredEvent, ConsentStateRow]:
    """Insert one ledger row (the database stamps its id and ``recorded_at``), point the
    projection at it, store its receipt and its audit event, on a transaction that holds the
    subject's row lock; returns event and projection."""
    row = await statements.fetchrow(session, _APPEND, *pending.values())
    assert row is not None  # an INSERT ... RETURNING answers one row
    note_recorded(session)
    ledger_id, recorded_at = row
    return pending.stored(ledger_id, recorded_at)


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


def _past_validity(now: datetime, purpose_key: str | None) -> list[Any]:
    """Projection rows still 'granted' whose validity has run out (joined to ``purposes``)."""
    where = [
        consent_state.c.state == "granted",
        purposes.c.validity_days.is_not(None),
        consent_state.c.granted_at + func.make_interval(0, 0, 0, purposes.c.validity_days) < now,
    ]
    if purpose_key is not None:
        where.append(consent_state.c.purpose_key == purpose_key)
    return where


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
        .where(*_past_validity(now, purpose_key), consent_state.c.last_event_id > after_event_id)
        .order_by(consent_state.c.last_event_id)
        .limit(limit)
    )
    return [ExpiryCandidate(*row) for row in (await session.execute(query)).all()]


async def count_granted_past_validity(
    session: AsyncSession, now: datetime, purpose_key: str | None = None
) -> int:
    """How many grants ``granted_past_validity`` would list from the start (for progress)."""
    query = (
        select(func.count())
        .select_from(consent_state)
        .join(purposes, purposes.c.key == consent_state.c.purpose_key)
        .where(*_past_validity(now, purpose_key))
    )
    return int(await session.scalar(query) or 0)


async def get_receipt(session: AsyncSession, receipt_id: uuid.UUID) -> ReceiptRow | None:
    """The receipt with its subject's external id and erasure mark (for owner checks)."""
    query = (
        select(*RECEIPT_COLUMNS)
        .join(subjects, subjects.c.id == receipts.c.subject_id)
        .where(receipts.c.id == receipt_id)
    )
    row = (await session.execute(query)).first()
    return _read_receipt(row) if row else None
