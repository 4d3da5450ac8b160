"""The baseline: a Litestar endpoint doing one raw asyncpg unique-key lookup, nothing else.

No authentication, no logging middleware, no rules: the floor a check endpoint is compared to.
Run as ``uvicorn --factory benchmarks.baseline_app:create_baseline_app`` with ``DATABASE_URL``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar import Litestar, Request, get
from litestar.params import FromQuery

from shared.settings import asyncpg_dsn

LOOKUP = "SELECT id, erased_at FROM subjects WHERE external_id = $1"


@get("/baseline")
async def baseline(request: Request[Any, Any, Any], subject: FromQuery[str]) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as conn:
        row = await conn.fetchrow(LOOKUP, subject)
    return {"found": row is not None}


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
    return Litestar([baseline], lifespan=[pool])
