"""Fixed-window rate limits kept in PostgreSQL, so that every replica counts the same hits.

A hit is counted in its own short transaction: a limited request that then fails (a wrong
one-time code, say) must still have counted, although its own transaction rolls back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.crypto import keyed_hash
from shared.errors import RateLimited

# Every bucket of a request in one statement: one round trip however many limits apply.
COUNT_HITS = text(
    "INSERT INTO rate_limits (bucket, window_start, hits)"
    " SELECT b, w, 1 FROM unnest(CAST(:buckets AS bytea[]), CAST(:windows AS timestamptz[]))"
    " AS t(b, w)"
    " ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1"
    " RETURNING bucket, hits"
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
    now = time.time()
    rows = []
    for limit, value in hits:
        start = math.floor(now / limit.window_s) * limit.window_s
        rows.append((keyed_hash(key, f"rate:{limit.name}:{value}"), start, limit))
    async with factory() as session, session.begin():
        result = await session.execute(COUNT_HITS, _arrays(rows))
        counted: dict[bytes, int] = {bucket: hits for bucket, hits in result}
    waits = [
        max(1, math.ceil(start + limit.window_s - now))
        for bucket, start, limit in rows
        if counted[bucket] > limit.hits
    ]
    if waits:
        raise RateLimited("Too many requests; try again later.", retry_after=max(waits))


def _arrays(rows: Sequence[tuple[bytes, float, Limit]]) -> dict[str, object]:
    return {
        "buckets": [bucket for bucket, _, _ in rows],
        "windows": [datetime.fromtimestamp(start, UTC) for _, start, _ in rows],
    }
