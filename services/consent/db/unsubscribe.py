"""Queries of one-click unsubscribe: the subjects a sender may mint links for."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db.tables import subjects


async def live_subject_ids(
    session: AsyncSession, external_ids: Iterable[str]
) -> dict[str, uuid.UUID]:
    """Internal ids of the subjects among ``external_ids`` that exist and are not erased."""
    rows = await session.execute(
        select(subjects.c.external_id, subjects.c.id).where(
            subjects.c.external_id.in_(set(external_ids)), subjects.c.erased_at.is_(None)
        )
    )
    return {external_id: subject_id for external_id, subject_id in rows.all()}
