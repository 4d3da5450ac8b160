"""Queries on ``dsar_connectors``, the systems that answer the connector protocol."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    Boolean,
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

metadata = MetaData()

connectors = Table(
    "dsar_connectors",
    metadata,
    Column("name", Text, primary_key=True),
    Column("url", Text, nullable=False),
    Column("kek_id", Text, nullable=False),
    Column("secret_ct", LargeBinary, nullable=False),
    Column("actions", ARRAY(Text), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class ConnectorRow:
    """A registered connector without its secret."""

    name: str
    url: str
    actions: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SealedSecret:
    kek_id: str
    sealed: bytes


_PUBLIC = (
    connectors.c.name,
    connectors.c.url,
    connectors.c.actions,
    connectors.c.enabled,
    connectors.c.created_at,
    connectors.c.updated_at,
)


def _row(values: tuple[object, ...]) -> ConnectorRow:
    return ConnectorRow(*values)  # type: ignore[arg-type]


async def get(session: AsyncSession, name: str) -> ConnectorRow | None:
    row = (await session.execute(select(*_PUBLIC).where(connectors.c.name == name))).first()
    return _row(tuple(row)) if row else None


async def list_all(session: AsyncSession) -> list[ConnectorRow]:
    rows = await session.execute(select(*_PUBLIC).order_by(connectors.c.name))
    return [_row(tuple(row)) for row in rows.all()]


async def secret(session: AsyncSession, name: str) -> SealedSecret | None:
    """The sealed secret of connector ``name`` (for the job runner that signs its jobs)."""
    query = select(connectors.c.kek_id, connectors.c.secret_ct).where(connectors.c.name == name)
    row = (await session.execute(query)).first()
    return SealedSecret(row.kek_id, row.secret_ct) if row else None


async def upsert(
    session: AsyncSession,
    name: str,
    url: str,
    secret: SealedSecret,
    actions: list[str],
    enabled: bool,
) -> tuple[ConnectorRow, bool]:
    """Create or replace connector ``name``: (the row, whether it was created).

    One statement, so two admins registering the same name at once cannot both create it:
    ``xmax = 0`` holds only for a row this statement inserted.
    """
    values = {
        "url": url,
        "kek_id": secret.kek_id,
        "secret_ct": secret.sealed,
        "actions": actions,
        "enabled": enabled,
    }
    statement = (
        insert(connectors)
        .values(name=name, created_at=func.now(), updated_at=func.now(), **values)
        .on_conflict_do_update(
            index_elements=[connectors.c.name], set_={**values, "updated_at": func.now()}
        )
        .returning(*_PUBLIC, literal_column("(xmax = 0)").label("created"))
    )
    row = (await session.execute(statement)).one()
    return _row(tuple(row)[:-1]), bool(row.created)


async def get_for_update(session: AsyncSession, name: str) -> ConnectorRow | None:
    query = select(*_PUBLIC).where(connectors.c.name == name).with_for_update()
    row = (await session.execute(query)).first()
    return _row(tuple(row)) if row else None


async def disable(session: AsyncSession, name: str) -> ConnectorRow | None:
    """Mark connector ``name`` disabled, keeping the row its jobs refer to."""
    statement = (
        update(connectors)
        .where(connectors.c.name == name)
        .values(enabled=False, updated_at=func.now())
        .returning(*_PUBLIC)
    )
    row = (await session.execute(statement)).first()
    return _row(tuple(row)) if row else None
