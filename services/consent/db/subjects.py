"""Queries on subjects and their wrapped data keys."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

import msgspec
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db.tables import row_reader, subjects
from shared.db import statements
from shared.db.statements import Statement, Transaction

# Personal fields that also carry a blind index and a suppression hash.
SEARCHABLE_FIELDS = ("email", "phone")


class SubjectRow(msgspec.Struct, frozen=True):
    """A subject as stored: its personal fields only as ciphertext (``<field>_ct``)."""

    id: uuid.UUID
    external_id: str
    email_ct: bytes | None
    phone_ct: bytes | None
    name_ct: bytes | None
    birth_date_ct: bytes | None
    locale: str
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None
    gpc_at: datetime | None

    def sealed(self, field: str) -> bytes | None:
        """The ciphertext of personal field ``field`` (``email``, ``phone``, ``name``, ...)."""
        ciphertext: bytes | None = getattr(self, f"{field}_ct")
        return ciphertext


class SealedField(msgspec.Struct, frozen=True):
    """A personal field as it is to be stored; ``None`` throughout clears it."""

    ciphertext: bytes | None
    index: bytes | None = None  # blind index, for SEARCHABLE_FIELDS
    suppression: bytes | None = None  # suppression hash, for SEARCHABLE_FIELDS


class WrappedKey(msgspec.Struct, frozen=True):
    """A subject's data key, wrapped by the key-encryption key ``kek_id``."""

    kek_id: str
    wrapped_dek: bytes


_read_subject = row_reader(subjects.c.keys(), SubjectRow)

# Every write reads its subject (most under the row lock): prepared statements, columns in
# SubjectRow's order, so a record becomes the struct as it is.
_SUBJECT = f"SELECT {', '.join(SubjectRow.__struct_fields__)} FROM subjects"  # noqa: S608 (struct field names, no input)
_BY_ID = Statement(f"{_SUBJECT} WHERE id = $1")
_BY_ID_LOCKED = Statement(f"{_SUBJECT} WHERE id = $1 FOR UPDATE")
_BY_EXTERNAL_ID = Statement(f"{_SUBJECT} WHERE external_id = $1")
_BY_EXTERNAL_ID_LOCKED = Statement(f"{_SUBJECT} WHERE external_id = $1 FOR UPDATE")
_KEY = Statement("SELECT kek_id, wrapped_dek FROM subject_keys WHERE subject_id = $1")


async def get_by_id(
    session: AsyncSession, subject_id: uuid.UUID, *, for_update: bool = False
) -> SubjectRow | None:
    statement = _BY_ID_LOCKED if for_update else _BY_ID
    row = await statements.fetchrow(session, statement, subject_id)
    return SubjectRow(*row) if row else None


async def get_by_external_id(
    session: Transaction, external_id: str, *, for_update: bool = False
) -> SubjectRow | None:
    """The subject row; ``for_update`` serialises writers of one subject (ledger, preferences)."""
    statement = _BY_EXTERNAL_ID_LOCKED if for_update else _BY_EXTERNAL_ID
    row = await statements.fetchrow(session, statement, external_id)
    return SubjectRow(*row) if row else None


async def subject_reference(session: AsyncSession, external_id: str) -> str | None:
    """The pseudonymous id audit events name the subject by (the token exchange's), if held."""
    row = await get_by_external_id(session, external_id)
    return str(row.id) if row else None


async def find_by_email_index(session: AsyncSession, index: bytes) -> list[SubjectRow]:
    query = (
        select(subjects)
        .where(subjects.c.email_index == index, subjects.c.erased_at.is_(None))
        .order_by(subjects.c.created_at)
    )
    return [_read_subject(row) for row in (await session.execute(query)).all()]


async def wait_for_creators(session: AsyncSession, external_id: str) -> None:
    """Queue behind any other transaction creating ``external_id`` until it commits or fails.

    A transaction-level advisory lock rather than ``INSERT ... ON CONFLICT``: a losing creator
    then writes nothing, and simply finds the winner's row once it reads again.
    """
    lock = func.pg_advisory_xact_lock(
        func.hashtext("lupa.consent.subject"), func.hashtext(external_id)
    )
    await session.execute(select(lock))


async def insert_subject(
    session: AsyncSession, subject_id: uuid.UUID, external_id: str, locale: str, now: datetime
) -> None:
    await session.execute(
        insert(subjects).values(
            id=subject_id, external_id=external_id, locale=locale, created_at=now, updated_at=now
        )
    )


async def update_subject(
    session: AsyncSession,
    subject_id: uuid.UUID,
    fields: Mapping[str, SealedField],
    locale: str | None,
    now: datetime,
) -> None:
    """Store ``fields`` (keyed by personal field name) and ``locale`` unless ``None``."""
    values: dict[str, object] = {"updated_at": now}
    for name, sealed in fields.items():
        values[f"{name}_ct"] = sealed.ciphertext
        if name in SEARCHABLE_FIELDS:
            values[f"{name}_index"] = sealed.index
            values[f"{name}_suppression"] = sealed.suppression
    if locale is not None:
        values["locale"] = locale
    await session.execute(update(subjects).where(subjects.c.id == subject_id).values(values))


async def mark_gpc_signal(session: AsyncSession, subject_id: uuid.UUID, at: datetime) -> None:
    """Keep the first Global Privacy Control signal on the subject (``gpc_at``)."""
    await session.execute(update(subjects).where(subjects.c.id == subject_id).values(gpc_at=at))


_INSERT_KEY = Statement(
    "INSERT INTO subject_keys (subject_id, kek_id, wrapped_dek, created_at) VALUES ($1, $2, $3, $4)"
)


async def insert_key(
    session: Transaction, subject_id: uuid.UUID, kek_id: str, wrapped: bytes, now: datetime
) -> None:
    await statements.execute(session, _INSERT_KEY, subject_id, kek_id, wrapped, now)


async def get_key(session: Transaction, subject_id: uuid.UUID) -> WrappedKey | None:
    row = await statements.fetchrow(session, _KEY, subject_id)
    return WrappedKey(*row) if row else None
