"""Queries on purposes and purpose versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db.tables import purpose_versions, purposes, row_reader
from services.consent.domain.purposes import Purpose, PurposeSpec, PurposeVersion
from shared.db import statements
from shared.db.statements import Statement, Transaction

# A purpose with its current version's title and description.
PURPOSE_COLUMNS = (purposes, purpose_versions.c.title, purpose_versions.c.description)
_read_purpose = row_reader(select(*PURPOSE_COLUMNS).selected_columns.keys(), Purpose)
_read_version = row_reader(purpose_versions.c.keys(), PurposeVersion)


def _with_current_text() -> Select[Any]:
    return select(*PURPOSE_COLUMNS).join(
        purpose_versions,
        (purpose_versions.c.purpose_key == purposes.c.key)
        & (purpose_versions.c.version == purposes.c.current_version),
    )


def _purpose_column(field: str) -> str:
    return f"v.{field}" if field in ("title", "description") else f"p.{field}"


# Every consent write reads its purpose: prepared, columns in Purpose's order.
_GET = (
    f"SELECT {', '.join(map(_purpose_column, Purpose.__struct_fields__))}"  # noqa: S608 (struct field names, no input)
    " FROM purposes p JOIN purpose_versions v"
    " ON v.purpose_key = p.key AND v.version = p.current_version WHERE p.key = $1"
)
_BY_KEY = Statement(_GET)
_BY_KEY_LOCKED = Statement(_GET + " FOR UPDATE OF p")


async def get(session: AsyncSession, key: str, *, for_update: bool = False) -> Purpose | None:
    row = await statements.fetchrow(session, _BY_KEY_LOCKED if for_update else _BY_KEY, key)
    return Purpose(*row) if row else None


async def list_all(session: AsyncSession) -> list[Purpose]:
    return await _purposes(session, _with_current_text().order_by(purposes.c.key))


async def list_sale_or_sharing(session: AsyncSession) -> list[Purpose]:
    """The purposes that sell or share personal data (a GPC signal objects to each)."""
    query = _with_current_text().where(purposes.c.sale_or_sharing.is_(True))
    return await _purposes(session, query.order_by(purposes.c.key))


async def _purposes(session: AsyncSession, query: Select[Any]) -> list[Purpose]:
    return [_read_purpose(row) for row in (await session.execute(query)).all()]


async def versions(session: AsyncSession, key: str) -> list[PurposeVersion]:
    query = (
        select(purpose_versions)
        .where(purpose_versions.c.purpose_key == key)
        .order_by(purpose_versions.c.version)
    )
    return [_read_version(row) for row in (await session.execute(query)).all()]


_VERSION = Statement(
    f"SELECT {', '.join(purpose_versions.c.keys())} FROM purpose_versions"  # noqa: S608 (column names, no input)
    " WHERE purpose_key = $1 AND version = $2"
)


async def get_version(session: Transaction, key: str, version: int) -> PurposeVersion:
    """A version that exists (a ledger row's foreign key, or the purpose's current one)."""
    row = await statements.fetchrow(session, _VERSION, key, version)
    assert row is not None  # the ledger's foreign key, or the purpose's current version
    return _read_version(row)


def _attributes(spec: PurposeSpec) -> dict[str, Any]:
    """The purpose's own columns (not its text) as ``spec`` sets them."""
    return {
        "legal_basis": spec.legal_basis,
        "channels": list(spec.channels),
        "double_opt_in_channels": list(spec.double_opt_in_channels),
        "validity_days": spec.validity_days,
        "min_age": spec.min_age,
        "sale_or_sharing": spec.sale_or_sharing,
        "purpose_category": spec.purpose_category,
        "pii_categories": list(spec.pii_categories),
        "recipients": list(spec.recipients),
        "retention_days": spec.retention_days,
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
