"""Fixed-window rate limits kept in PostgreSQL, so that every replica counts the same hits.

A hit is counted in its own short transaction: a limited request that then fails (a wrong
one-time code, say) must still have counted, although its own transaction rolls back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.crypto import keyed_hash
from shared.errors import RateLimited

# Every bucket of a request in one statement: one round trip however many limits apply. The
# window is cut on the database's clock, not this process's: replicas whose clocks drift apart
# still count a hit into the same window as each other.
COUNT_HITS = text(
    "INSERT INTO rate_limits (bucket, window_start, hits)"
    " SELECT b, to_timestamp(floor(extract(epoch FROM now()) / s) * s), 1"
    " FROM unnest(CAST(:buckets AS bytea[]), CAST(:windows AS integer[])) AS t(b, s)"
    " ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1"
    " RETURNING bucket, hits, extract(epoch FROM now() - window_start) AS elapsed"
)


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
    await hit_all(factory, key, [(limit, value)])


async def hit_all(
    factory: async_sessionmaker[AsyncSession],
    key: bytes,
    hits: Sequence[tuple[Limit, str]],
) -> None:
    """Count one hit against each (limit, value) pair in one statement (one round trip); raise
    RateLimited when any is over, with the longest wait among those over."""
    limits = {keyed_hash(key, f"rate:{limit.name}:{value}"): limit for limit, value in hits}
    params = {"buckets": list(limits), "windows": [limit.window_s for limit in limits.values()]}
    async with factory() as session, session.begin():
        counted = (await session.execute(COUNT_HITS, params)).all()
    waits = [
        max(1, math.ceil(limits[bucket].window_s - float(elapsed)))
        for bucket, count, elapsed in counted
        if count > limits[bucket].hits
    ]
    if waits:
        raise RateLimited("Too many requests; try again later.", retry_after=max(waits))
