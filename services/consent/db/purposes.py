"""Queries on purposes and purpose versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db.tables import purpose_versions, purposes
from services.consent.domain.purposes import PurposeSpec

PURPOSE_COLUMNS = (purposes, purpose_versions.c.title, purpose_versions.c.description)


def _joined() -> Any:
    return select(*PURPOSE_COLUMNS).join(
        purpose_versions,
        (purpose_versions.c.purpose_key == purposes.c.key)
        & (purpose_versions.c.version == purposes.c.current_version),
    )


async def get(
    session: AsyncSession, key: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    query = _joined().where(purposes.c.key == key)
    if for_update:
        query = query.with_for_update(of=purposes)
    row = (await session.execute(query)).mappings().first()
    return dict(row) if row else None


async def list_all(session: AsyncSession) -> list[dict[str, Any]]:
    rows = (await session.execute(_joined().order_by(purposes.c.key))).mappings().all()
    return [dict(r) for r in rows]


async def versions(session: AsyncSession, key: str) -> list[dict[str, Any]]:
    query = (
        select(purpose_versions)
        .where(purpose_versions.c.purpose_key == key)
        .order_by(purpose_versions.c.version)
    )
    return [dict(r) for r in (await session.execute(query)).mappings().all()]


def _attributes(spec: PurposeSpec) -> dict[str, Any]:
    return {
        "legal_basis": spec.legal_basis,
        "channels": list(spec.channels),
        "double_opt_in_channels": list(spec.double_opt_in_channels),
        "validity_days": spec.validity_days,
        "min_age": spec.min_age,
        "sale_or_sharing": spec.sale_or_sharing,
    }


async def wait_for_creators(session: AsyncSession, key: str) -> None:
    """Queue behind any other transaction creating purpose ``key`` until it commits or fails.

    A transaction-level advisory lock rather than ``INSERT ... ON CONFLICT``: a losing creator
    then writes nothing, and simply finds the winner's row once it reads again.
    """
    lock = func.pg_advisory_xact_lock(func.hashtext("lupa.consent.purpose"), func.hashtext(key))
    await session.execute(select(lock))


async def insert_purpose(session: AsyncSession, key: str, spec: PurposeSpec, now: datetime) -> None:
    await session.execute(
        insert(purposes).values(
            key=key,
            current_version=1,
            min_accepted_version=1,
            created_at=now,
            updated_at=now,
            **_attributes(spec),
        )
    )
    await insert_version(session, key, 1, spec, now)


async def insert_version(
    session: AsyncSession, key: str, version: int, spec: PurposeSpec, now: datetime
) -> None:
    await session.execute(
        insert(purpose_versions).values(
            purpose_key=key,
            version=version,
            title=spec.title,
            description=spec.description,
            requires_renewal=spec.require_renewal,
            created_at=now,
        )
    )


async def update_purpose(
    session: AsyncSession,
    key: str,
    spec: PurposeSpec,
    version: int,
    min_accepted_version: int,
    now: datetime,
) -> None:
    await session.execute(
        update(purposes)
        .where(purposes.c.key == key)
        .values(
            current_version=version,
            min_accepted_version=min_accepted_version,
            updated_at=now,
            **_attributes(spec),
        )
    )
