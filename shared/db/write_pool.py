"""The hot write path's own asyncpg pool: the connections ``AuditedTransactions`` borrows.

The write path runs only prepared statements on plain asyncpg connections, so it needs no
SQLAlchemy pool checkout (a greenlet hop out and one back per write: ~6% of a consent write's
CPU). Connections open on demand (``min_size=0``), so a process that never writes this way
(the DSAR service, a CLI) holds none, and the service starts while the database is down.
"""

from __future__ import annotations

import json

import asyncpg

from shared.settings import DatabaseSettings, asyncpg_dsn


def connection_settings(settings: DatabaseSettings, application_name: str) -> dict[str, str]:
    """What every Lupa connection to the primary sets in its start-up packet (no round trip)."""
    server_settings = {
        "statement_timeout": str(settings.statement_timeout_ms),
        "idle_in_transaction_session_timeout": "60000",
        "application_name": application_name,
    }
    if settings.synchronous_commit is not None:
        server_settings["synchronous_commit"] = settings.synchronous_commit
    return server_settings


async def create_write_pool(settings: DatabaseSettings) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        asyncpg_dsn(settings.url),
        min_size=0,
        max_size=settings.write_pool_size,
        max_inactive_connection_lifetime=300,
        timeout=settings.pool_timeout_s,
        command_timeout=settings.statement_timeout_ms / 1000 + 1,
        reset=_keep_session,
        init=json_as_sessions_read_it,
        server_settings=connection_settings(settings, "lupa-write"),
    )


async def json_as_sessions_read_it(conn: asyncpg.Connection) -> None:
    """json and jsonb decoded into Python values and sent as JSON text, as on the engine's
    connections (SQLAlchemy's asyncpg dialect sets these codecs), so one statement reads
    alike on either kind of connection."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, encoder=str, decoder=json.loads, schema="pg_catalog", format="text"
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Write connections change no session state (no SET, LISTEN or advisory lock), so the
    ``RESET ALL`` round trip asyncpg makes on release is skipped; one left mid-transaction is
    closed instead."""
    if conn.is_in_transaction():
        conn.terminate()
