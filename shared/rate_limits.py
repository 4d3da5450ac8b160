"""Fixed-window rate limits kept in PostgreSQL, so that every replica counts the same hits.

A hit is counted in its own short transaction: a limited request that then fails (a wrong
one-time code, say) must still have counted, although its own transaction rolls back.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.crypto import keyed_hash
from shared.errors import RateLimited


@dataclass(frozen=True)
class Limit:
    name: str  # what is limited, e.g. "dsar-intake-ip"; part of the bucket key
    hits: int
    window_s: int


async def hit(
    factory: async_sessionmaker[AsyncSession], key: bytes, limit: Limit, value: str
) -> None:
    """Count one hit of ``value`` (an IP address, an email address) against ``limit``; raise
    RateLimited with the seconds until the window ends when it is over. ``value`` is stored
    only as a keyed hash."""
    bucket = keyed_hash(key, f"rate:{limit.name}:{value}")
    now = time.time()
    start = math.floor(now / limit.window_s) * limit.window_s
    async with factory() as session, session.begin():
        hits = (
            await session.execute(
                text(
                    "INSERT INTO rate_limits (bucket, window_start, hits) VALUES (:b, :w, 1)"
                    " ON CONFLICT (bucket, window_start) DO UPDATE"
                    " SET hits = rate_limits.hits + 1 RETURNING hits"
                ),
                {"b": bucket, "w": datetime.fromtimestamp(start, UTC)},
            )
        ).scalar_one()
    if hits > limit.hits:
        retry_after = max(1, math.ceil(start + limit.window_s - now))
        raise RateLimited("Too many requests; try again later.", retry_after=retry_after)
