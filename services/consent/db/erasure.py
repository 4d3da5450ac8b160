"""Writes of the Art. 17/18 actions on a subject: shredding and restriction."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db.subjects import SubjectRow
from services.consent.db.tables import (
    preferences,
    receipts,
    row_reader,
    subject_keys,
    subjects,
)

SEALED_FIELDS = ("email", "phone", "name", "birth_date")
_read_subject = row_reader(subjects.c.keys(), SubjectRow)


async def find_by_phone_index(session: AsyncSession, index: bytes) -> list[SubjectRow]:
    """Live subjects whose phone has blind index ``index`` (erased ones have none)."""
    query = (
        select(subjects)
        .where(subjects.c.phone_index == index, subjects.c.erased_at.is_(None))
        .order_by(subjects.c.created_at)
    )
    return [_read_subject(row) for row in (await session.execute(query)).all()]


async def shred(
    session: AsyncSession,
    subject_id: uuid.UUID,
    suppression: dict[str, bytes | None],
    now: datetime,
) -> None:
    """Destroy the subject's data key and every sealed or searchable column; keep only the
    suppression hashes (``suppression``), so the person is never imported or mailed again.

    Ciphertext elsewhere sealed with the key (ledger reasons, audit copies) becomes unreadable
    with the key's row; the preference document is plain JSON, so it goes."""
    await session.execute(delete(subject_keys).where(subject_keys.c.subject_id == subject_id))
    await session.execute(delete(preferences).where(preferences.c.subject_id == subject_id))
    cleared: dict[str, object] = {f"{field}_ct": None for field in SEALED_FIELDS}
    cleared |= {"email_index": None, "phone_index": None, "erased_at": now, "updated_at": now}
    # A hash that cannot be computed any more (no key) leaves the stored one as it is.
    cleared |= {f"{f}_suppression": h for f, h in suppression.items() if h is not None}
    await session.execute(update(subjects).where(subjects.c.id == subject_id).values(cleared))


async def set_flag(
    session: AsyncSession, subject_id: uuid.UUID, flag: str, value: datetime | None, now: datetime
) -> bool:
    """Set (or, with ``None``, clear) the subject-wide stop ``flag``; False if unchanged.

    The check_facts triggers carry the change into the check's projection in this transaction.
    """
    column = subjects.c[flag]
    changed_only = column.is_(None) if value is not None else column.is_not(None)
    result = await session.execute(
        update(subjects)
        .where(subjects.c.id == subject_id, changed_only)
        .values({flag: value, "updated_at": now})
        .returning(subjects.c.id)
    )
    return result.first() is not None


async def receipts_of(
    session: AsyncSession, subject_id: uuid.UUID
) -> list[tuple[uuid.UUID, uuid.UUID, datetime]]:
    """Every receipt issued to the subject: (receipt id, ledger event id, when)."""
    query = (
        select(receipts.c.id, receipts.c.event_id, receipts.c.created_at)
        .where(receipts.c.subject_id == subject_id)
        .order_by(receipts.c.created_at)
    )
    return [(r.id, r.event_id, r.created_at) for r in (await session.execute(query)).all()]
