"""Transactional outbox: an audit event is written in the same transaction as its change.

``install_outbox_guard`` makes the rule structural: every INSERT/UPDATE/DELETE issued through
a Lupa session marks the session as changed, and committing a changed session that recorded
no audit event raises ``MissingAuditEvent`` (so the transaction rolls back).
``AuditedTransactions`` applies the same rule to the write transactions it opens on plain
asyncpg connections (the hot write paths, which run only prepared statements).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import TextClause, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.util import greenlet_spawn

from shared.db import statements
from shared.db.borrowed import BorrowedConnections
from shared.db.engine import create_session_factory
from shared.db.statements import (
    CHANGED_TABLES,
    DriverTransaction,
    SingleStatements,
    Statement,
    Transaction,
    note_changes,
)

EVENT_TYPE_PREFIX = "fi.lupa."
# Tables whose rows are bookkeeping for another write (which carries the event).
EXEMPT_TABLES = frozenset(
    {
        "audit_events",
        "idempotency_keys",
        "audit_checkpoints",
        "audit_chain_state",
        "webhook_deliveries",
        "rate_limits",  # counts attempts, changes nothing a user sees
        "web_sessions",  # a sign-in's cookie; the sign-in itself is audited by the page
    }
)


class MissingAuditEvent(RuntimeError):
    """A transaction changed state without recording what it did."""


@dataclass(frozen=True)
class AuditEvent:
    """What happened, to which pseudonymous subject; ``data`` must hold no personal data."""

    service: str
    type: str
    subject: str | None
    data: dict[str, Any]  # free-form JSON by design: each event type has its own members
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def full_type(self) -> str:
        return f"{EVENT_TYPE_PREFIX}{self.service}.{self.type}"


# The audit row's columns and how an AuditEvent fills them: record_event writes it alone, and
# a hot write path may add the same row to its own statement (then calls note_recorded).
AUDIT_COLUMNS = ("event_id", "service", "type", "subject", "time", "data")
_RECORD = Statement(
    f"INSERT INTO audit_events ({', '.join(AUDIT_COLUMNS)}) VALUES ($1, $2, $3, $4, $5, $6)"  # noqa: S608 (column names, no input)
)


def audit_row(audit: AuditEvent) -> tuple[Any, ...]:
    """``audit`` as the values of AUDIT_COLUMNS, in order."""
    return (
        audit.id,
        audit.service,
        audit.full_type,
        audit.subject,
        audit.time,
        json.dumps(audit.data),  # jsonb, as text: the session's connections take it so
    )


def note_recorded(session: Transaction) -> None:
    """Tell the outbox guard that this transaction wrote an audit row (it counts them)."""
    session.info["audit_events"] = session.info.get("audit_events", 0) + 1


async def record_event(session: Transaction, audit: AuditEvent) -> None:
    """Add ``audit`` to the session's transaction; it commits or rolls back with the change.

    A prepared statement: every write records one, so it is on every write's path."""
    await statements.execute(session, _RECORD, *audit_row(audit))
    note_recorded(session)


def _changed_table(state: ORMExecuteState) -> str | None:
    if isinstance(state.statement, TextClause):
        return _text_write_target(state.statement.text)
    if not (state.is_insert or state.is_update or state.is_delete):
        return None
    table = getattr(state.statement, "table", None)
    return getattr(table, "name", "?")


# A text() statement writes when it starts with a DML verb or is a WITH holding one; SQLAlchemy
# does not mark such statements as DML, so they are recognised here by their words.
_TEXT_DML = re.compile(r"^\s*(?:insert\s+into|update|delete\s+from)\s+\"?(\w+)", re.IGNORECASE)
_TEXT_CTE_DML = re.compile(r"\b(?:insert\s+into|delete\s+from)\s+\"?(\w+)", re.IGNORECASE)


def _text_write_target(sql: str) -> str | None:
    match = _TEXT_DML.match(sql)
    if match is None and sql.lstrip()[:4].lower() == "with":
        match = _TEXT_CTE_DML.search(sql)
    return match.group(1).lower() if match else None


def _track_writes(state: ORMExecuteState) -> None:
    table = _changed_table(state)
    if table is not None:
        note_changes(state.session.info, {table})


def require_event(info: MutableMapping[str, Any]) -> None:
    """Refuse (``MissingAuditEvent``) a transaction that changed state without its event."""
    changed = info.pop(CHANGED_TABLES, frozenset()) - EXEMPT_TABLES
    events = info.pop("audit_events", 0)
    if changed and not events:
        raise MissingAuditEvent(f"changes to {sorted(changed)} without an audit event")


def require_own_event(statement: Statement) -> None:
    """Refuse (``MissingAuditEvent``) a statement that commits alone and changes state
    without writing its audit event itself."""
    changed = statement.writes - EXEMPT_TABLES
    if changed and "audit_events" not in statement.writes:
        raise MissingAuditEvent(f"changes to {sorted(changed)} without an audit event")


def _require_event(session: Session) -> None:
    require_event(session.info)


def _reset(session: Session, *_: Any) -> None:
    session.info.pop(CHANGED_TABLES, None)
    session.info.pop("audit_events", None)


def install_outbox_guard(factory: async_sessionmaker[AsyncSession]) -> None:
    sync_class = factory.kw.get("sync_session_class", Session)
    if getattr(sync_class, "_lupa_guarded", False):
        return
    guarded = type("LupaSession", (sync_class,), {"_lupa_guarded": True})
    event.listen(guarded, "do_orm_execute", _track_writes)
    event.listen(guarded, "before_commit", _require_event)
    event.listen(guarded, "after_rollback", _reset)
    factory.configure(sync_session_class=guarded)


def audited_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that refuse to commit a change without its audit event: what every process
    that writes (service apps, CLI jobs) works with."""
    factory = create_session_factory(engine)
    install_outbox_guard(factory)
    return factory


class AuditedTransactions:
    """Write transactions on plain asyncpg connections from ``engine``'s pool, under the same
    rule as ``audited_sessions``: a transaction that changed state commits only with its
    audit event, otherwise ``MissingAuditEvent`` is raised and it rolls back.

    For hot write paths that run only prepared statements (``shared.db.statements``): no
    session, no ORM transaction, one greenlet hop to check a connection out and one to give
    it back. The connection leaves the pool with no transaction open and goes back so.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        connections: BorrowedConnections | None = None,
        acquire_timeout_s: float = 5.0,
    ) -> None:
        self.engine = engine
        # Given (the services: ``shared.db.write_pool``), connections are borrowed from it;
        # otherwise checked out of the engine's pool.
        self.connections = connections
        self.acquire_timeout_s = acquire_timeout_s

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[DriverTransaction]:
        """One transaction: commits when the block ends, rolls back if it raises."""
        async with self._connection() as driver:
            transaction = driver.transaction()
            await transaction.start()
            tx = DriverTransaction(driver)
            try:
                yield tx
                require_event(tx.info)
            except BaseException:
                await _roll_back(transaction)
                raise
            await transaction.commit()

    @asynccontextmanager
    async def single_statements(self) -> AsyncIterator[SingleStatements]:
        """A connection on which each statement is its own transaction (no ``BEGIN`` or
        ``COMMIT`` round trips), under the guard's rule for one statement: one that changes
        state must write its audit event itself (``require_own_event``)."""
        async with self._connection() as driver:
            yield SingleStatements(driver, require_own_event)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        if self.connections is None:
            async with self._engine_connection() as driver:
                yield driver
            return
        connections = self.connections
        # A bounded wait, as the engine's pool_timeout: a 503 rather than a queue forever.
        async with asyncio.timeout(self.acquire_timeout_s):
            driver = await connections.acquire()
        try:
            yield driver
        except BaseException:
            # A connection that failed mid-transaction is not trusted with the next one.
            if driver.is_closed() or driver.is_in_transaction():
                connections.discard(driver)
                raise
            connections.release(driver)
            raise
        connections.release(driver)

    @asynccontextmanager
    async def _engine_connection(self) -> AsyncIterator[asyncpg.Connection]:
        pooled = await self.engine.raw_connection()
        driver: asyncpg.Connection = pooled.driver_connection
        try:
            yield driver
        except BaseException:
            # A connection that failed mid-transaction is not trusted with the next one.
            if driver.is_closed() or driver.is_in_transaction():
                await greenlet_spawn(pooled.invalidate)
            raise
        finally:
            await greenlet_spawn(pooled.close)


async def _roll_back(transaction: Any) -> None:
    """Roll back, keeping the error that caused it: if the connection is gone, so is the
    transaction (the caller then discards the connection)."""
    with suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        await transaction.rollback()
