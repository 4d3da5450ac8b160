"""The baselines: Litestar endpoints doing one raw asyncpg statement each, nothing else.

``GET /baseline/hello``: no statement, a constant answer (the server's and framework's
ceiling). ``GET /baseline``: one unique-key lookup, the floor a check is compared to. ``POST
/baseline/insert``: one INSERT in its own transaction, the floor a consent write is compared to.
No authentication, no logging middleware, no rules.
Run as ``uvicorn --factory benchmarks.baseline_app:create_baseline_app`` with ``DATABASE_URL``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar, Request, get, post
from litestar.params import FromQuery

from shared.settings import asyncpg_dsn

LOOKUP = "SELECT id, erased_at FROM subjects WHERE external_id = $1"
INSERT = "INSERT INTO bench_writes (subject, action) VALUES ($1, $2)"
# Created by the writes benchmark before it starts this app.
WRITES_TABLE = """
CREATE TABLE IF NOT EXISTS bench_writes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject text NOT NULL,
    action text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
)"""


class Write(msgspec.Struct):
    subject: str
    action: str


@get("/baseline/hello")
async def hello() -> dict[str, Any]:
    """No database at all: the server's and the framework's own ceiling."""
    return {"hello": "world"}


@get("/baseline")
async def baseline(request: Request[Any, Any, Any], subject: FromQuery[str]) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as conn:
        row = await conn.fetchrow(LOOKUP, subject)
    return {"found": row is not None}


@post("/baseline/insert")
async def baseline_insert(request: Request[Any, Any, Any], data: Write) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        await conn.execute(INSERT, data.subject, data.action)
    return {"recorded": True}


@asynccontextmanager
async def pool(app: Litestar) -> AsyncGenerator[None, None]:
    app.state.pool = await asyncpg.create_pool(
        asyncpg_dsn(os.environ["DATABASE_URL"]),
        min_size=0,
        max_size=int(os.environ.get("LUPA_DB_POOL_SIZE", "20")),
        reset=_no_reset,
    )
    try:
        yield
    finally:
        await app.state.pool.close()


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Same pool set-up as the check path: one round trip per request, no RESET ALL."""


def create_baseline_app() -> Litestar:
    return Litestar([hello, baseline, baseline_insert], lifespan=[pool])
