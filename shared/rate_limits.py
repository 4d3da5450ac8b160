"""Fixed-window rate limits kept in PostgreSQL, so that every replica counts the same hits.

A hit is counted in its own short transaction: a limited request that then fails (a wrong
one-time code, say) must still have counted, although its own transaction rolls back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.crypto import keyed_hash
from shared.errors import RateLimited

_HIT = text("""
    WITH win AS (SELECT CAST(:window_s AS integer) AS s)
    INSERT INTO rate_limits (bucket, window_start, hits)
    SELECT :b, to_timestamp(floor(extract(epoch FROM now()) / win.s) * win.s), 1 FROM win
    ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1
    RETURNING hits, extract(epoch FROM window_start - now()) + :window_s AS retry_after
""")


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
    # The window is cut on the database's clock, not this process's: replicas whose clocks
    # drift apart still count a hit into the same window as each other.
    async with factory() as session, session.begin():
        hits, retry_after = (
            await session.execute(_HIT, {"b": bucket, "window_s": limit.window_s})
        ).one()
    if hits > limit.hits:
        raise RateLimited(
            "Too many requests; try again later.", retry_after=max(1, math.ceil(retry_after))
        )
