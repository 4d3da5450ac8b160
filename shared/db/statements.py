"""Prepared statements on a session's own connection, for write paths that run many times a
second: building a SQLAlchemy statement per call costs more than the database's own work.

A ``Statement`` is plain SQL with ``$n`` parameters, run through asyncpg on the connection (and
so in the transaction) the session holds: it commits or rolls back with everything else, and
asyncpg prepares each text once per connection. The tables a statement changes are read from
its SQL once and noted on the session (``CHANGED_TABLES``), so the outbox guard sees these
writes exactly as it sees SQLAlchemy's.

The hottest write paths skip the session altogether: a ``DriverTransaction`` is a transaction
on a plain asyncpg connection (``shared.audit.outbox.AuditedTransactions`` opens them, with the
outbox guard), and every function here takes one wherever it takes a session.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

# session.info key: the tables a transaction changed (the outbox guard reads it at commit).
CHANGED_TABLES = "changed_tables"
# The target of INSERT INTO / UPDATE / DELETE FROM, wherever it stands (CTEs included); the
# UPDATE of "DO UPDATE", "FOR UPDATE" and "FOR NO KEY UPDATE" changes no other table.
_WRITE_TARGET = re.compile(
    r"\b(?:insert\s+into|(?<!do )(?<!for )(?<!key )update|delete\s+from)\s+\"?(\w+)",
    re.IGNORECASE,
)


def written_tables(sql: str) -> frozenset[str]:
    return frozenset(name.lower() for name in _WRITE_TARGET.findall(sql))


@dataclass(frozen=True)
class Statement:
    sql: str
    writes: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "writes", written_tables(self.sql))


def note_changes(info: MutableMapping[str, Any], tables: Iterable[str]) -> None:
    """Record in a session's ``info`` that its transaction changed ``tables`` (for the outbox
    guard)."""
    changed = frozenset(tables)
    if changed:
        info[CHANGED_TABLES] = info.get(CHANGED_TABLES, frozenset()) | changed


class DriverTransaction:
    """An open transaction on a plain asyncpg connection, and its ``info`` (what the outbox
    guard reads, as on a session): the write path without SQLAlchemy's session, transaction
    and greenlet objects, which cost more than the statements a consent write sends."""

    __slots__ = ("driver", "info")

    def __init__(self, driver: asyncpg.Connection) -> None:
        self.driver = driver
        self.info: dict[str, Any] = {}


class SingleStatements(DriverTransaction):
    """A plain asyncpg connection with no transaction open: each statement commits alone.

    ``check`` judges each statement before it is sent (``shared.audit.outbox`` gives the
    outbox guard's rule for one statement: a change only together with its audit event).
    For a write that is one statement, after reads that need no transaction around them."""

    __slots__ = ("check",)

    def __init__(self, driver: asyncpg.Connection, check: Callable[[Statement], None]) -> None:
        super().__init__(driver)
        self.check = check


# Whatever runs prepared statements: a session's transaction or a plain asyncpg one.
Transaction = AsyncSession | DriverTransaction

_DRIVER = "lupa_driver_connection"


async def driver_connection(session: Transaction) -> asyncpg.Connection:
    """The asyncpg connection under the session's transaction (begun if it was not yet).

    Looked up once per transaction: asking SQLAlchemy each time costs more than a statement.
    """
    if isinstance(session, DriverTransaction):
        return session.driver
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_DRIVER)
    if cached is not None and transaction is not None and cached[0] is transaction:
        driver: asyncpg.Connection = cached[1]
        return driver
    driver = await _begin_driver(session)
    session.info[_DRIVER] = (session.sync_session.get_transaction(), driver)
    return driver


async def _begin_driver(session: AsyncSession) -> asyncpg.Connection:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    adapter: Any = raw.dbapi_connection
    if getattr(adapter, "_transaction", True) is None:
        # SQLAlchemy's asyncpg adapter sends BEGIN lazily, with its own first statement: one
        # sent straight to asyncpg must not run before it, outside the transaction. (Tests
        # prove the rollback; a SQLAlchemy that renamed this would fail them.)
        await adapter._start_transaction()
    driver: asyncpg.Connection = raw.driver_connection
    return driver


def _note(session: Transaction, statement: Statement) -> None:
    if isinstance(session, SingleStatements):
        session.check(statement)
    else:
        note_changes(session.info, statement.writes)


async def fetchrow(session: Transaction, statement: Statement, *args: Any) -> asyncpg.Record | None:
    _note(session, statement)
    return await (await driver_connection(session)).fetchrow(statement.sql, *args)


async def fetch(session: Transaction, statement: Statement, *args: Any) -> list[asyncpg.Record]:
    _note(session, statement)
    rows: list[asyncpg.Record] = await (await driver_connection(session)).fetch(
        statement.sql, *args
    )
    return rows


async def execute(session: Transaction, statement: Statement, *args: Any) -> None:
    _note(session, statement)
    await (await driver_connection(session)).execute(statement.sql, *args)
