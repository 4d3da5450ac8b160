"""Queries on subjects and their wrapped data keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db.tables import subject_keys, subjects


async def get_by_external_id(
    session: AsyncSession, external_id: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    """The subject row; ``for_update`` serialises writers of one subject (ledger, preferences)."""
    query = select(subjects).where(subjects.c.external_id == external_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).mappings().first()
    return dict(row) if row else None


async def find_by_email_index(session: AsyncSession, index: bytes) -> list[dict[str, Any]]:
    query = (
        select(subjects)
        .where(subjects.c.email_index == index, subjects.c.erased_at.is_(None))
        .order_by(subjects.c.created_at)
    )
    return [dict(r) for r in (await session.execute(query)).mappings().all()]


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
    session: AsyncSession, subject_id: uuid.UUID, values: dict[str, Any]
) -> None:
    await session.execute(update(subjects).where(subjects.c.id == subject_id).values(**values))


async def insert_key(
    session: AsyncSession, subject_id: uuid.UUID, kek_id: str, wrapped: bytes, now: datetime
) -> None:
    await session.execute(
        insert(subject_keys).values(
            subject_id=subject_id, kek_id=kek_id, wrapped_dek=wrapped, created_at=now
        )
    )


async def get_key(session: AsyncSession, subject_id: uuid.UUID) -> dict[str, Any] | None:
    row = (
        (await session.execute(select(subject_keys).where(subject_keys.c.subject_id == subject_id)))
        .mappings()
        .first()
    )
    return dict(row) if row else None
