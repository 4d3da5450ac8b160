"""Queries on a subject's stored preference document and its version."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db.tables import preferences, purposes, row_reader
from services.consent.domain.preferences import Document


class StoredPreferences(msgspec.Struct, frozen=True):
    """The document as last saved and its version (the ETag is made from it)."""

    doc: Document
    version: int


_read_preferences = row_reader(preferences.c.keys(), StoredPreferences)


async def get(session: AsyncSession, subject_id: uuid.UUID) -> StoredPreferences | None:
    """The stored document, or ``None`` if the subject never saved one."""
    query = select(preferences).where(preferences.c.subject_id == subject_id)
    row = (await session.execute(query)).first()
    return _read_preferences(row) if row else None


async def insert_first(
    session: AsyncSession, subject_id: uuid.UUID, doc: Document, now: datetime
) -> int:
    """Store the first document; version 1 follows the defaults' version 0."""
    await session.execute(
        insert(preferences).values(subject_id=subject_id, doc=doc, version=1, updated_at=now)
    )
    return 1


async def replace(
    session: AsyncSession,
    subject_id: uuid.UUID,
    doc: Document,
    expected_version: int,
    now: datetime,
) -> int | None:
    """Write ``doc`` only if the stored version is still ``expected_version``; the new version."""
    result = await session.execute(
        update(preferences)
        .where(preferences.c.subject_id == subject_id, preferences.c.version == expected_version)
        .values(doc=doc, version=preferences.c.version + 1, updated_at=now)
        .returning(preferences.c.version)
    )
    version: int | None = result.scalar_one_or_none()
    return version


async def known_purposes(session: AsyncSession, keys: list[str]) -> set[str]:
    """Which of ``keys`` name a purpose in the catalogue (topics hang under real purposes)."""
    if not keys:
        return set()
    rows = await session.execute(select(purposes.c.key).where(purposes.c.key.in_(keys)))
    return set(rows.scalars().all())
