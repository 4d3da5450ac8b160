"""The consent service's data keys for key rotation: one per subject, in ``subject_keys``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db.tables import subject_keys
from shared.key_rotation import WrappedKey

SERVICE = "consent"


class SubjectKeys:
    """Each subject's data key, wrapped by a KEK with the subject id as associated data."""

    service = SERVICE

    async def count_by_kek(self, session: AsyncSession) -> dict[str, int]:
        query = select(subject_keys.c.kek_id, func.count()).group_by(subject_keys.c.kek_id)
        return {kek_id: n for kek_id, n in (await session.execute(query)).all()}

    async def lock_batch(
        self, session: AsyncSession, kek_ids: Sequence[str], after: uuid.UUID | None, limit: int
    ) -> list[WrappedKey]:
        query = (
            select(subject_keys.c.subject_id, subject_keys.c.kek_id, subject_keys.c.wrapped_dek)
            .where(subject_keys.c.kek_id.in_(list(kek_ids)))
            .order_by(subject_keys.c.subject_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if after is not None:
            query = query.where(subject_keys.c.subject_id > after)
        rows = (await session.execute(query)).all()
        return [WrappedKey(owner, kek_id, wrapped) for owner, kek_id, wrapped in rows]

    async def store_rewrapped(
        self, session: AsyncSession, keys: list[WrappedKey], now: datetime
    ) -> None:
        statement = (
            update(subject_keys)
            .where(subject_keys.c.subject_id == bindparam("sid"))
            .values(kek_id=bindparam("kek"), wrapped_dek=bindparam("wrapped"), rewrapped_at=now)
        )
        rows = [{"sid": k.owner, "kek": k.kek_id, "wrapped": k.wrapped} for k in keys]
        await session.execute(statement, rows)
