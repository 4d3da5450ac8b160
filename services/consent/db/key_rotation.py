"""Queries for key rotation: lock a batch of wrapped data keys, store them rewrapped, count them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db.tables import subject_keys


async def lock_batch(
    session: AsyncSession, kek_ids: Sequence[str], after: uuid.UUID | None, limit: int
) -> list[dict[str, Any]]:
    """The next ``limit`` keys under ``kek_ids`` past ``after``, locked; busy rows are skipped."""
    query = (
        select(subject_keys.c.subject_id, subject_keys.c.kek_id, subject_keys.c.wrapped_dek)
        .where(subject_keys.c.kek_id.in_(list(kek_ids)))
        .order_by(subject_keys.c.subject_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if after is not None:
        query = query.where(subject_keys.c.subject_id > after)
    return [dict(r) for r in (await session.execute(query)).mappings().all()]


async def store_rewrapped(session: AsyncSession, rows: list[dict[str, Any]], now: datetime) -> None:
    """``rows``: dicts with ``sid``, ``kek`` and ``wrapped`` (executemany, one statement)."""
    statement = (
        update(subject_keys)
        .where(subject_keys.c.subject_id == bindparam("sid"))
        .values(kek_id=bindparam("kek"), wrapped_dek=bindparam("wrapped"), rewrapped_at=now)
    )
    await session.execute(statement, rows)


async def count_by_kek(session: AsyncSession) -> dict[str, int]:
    query = select(subject_keys.c.kek_id, func.count()).group_by(subject_keys.c.kek_id)
    return {kek_id: n for kek_id, n in (await session.execute(query)).all()}


async def count_for(session: AsyncSession, kek_ids: Sequence[str]) -> int:
    query = (
        select(func.count())
        .select_from(subject_keys)
        .where(subject_keys.c.kek_id.in_(list(kek_ids)))
    )
    return int((await session.execute(query)).scalar_one())
