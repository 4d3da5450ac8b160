"""Rate limits count on the database's clock: replicas whose clocks disagree share windows."""

from __future__ import annotations

import secrets
import time

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.errors import RateLimited
from shared.rate_limits import Limit, hit

HOUR = 3600


async def test_a_replica_with_a_skewed_clock_counts_into_the_same_window(
    session_factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    key, limit = secrets.token_bytes(32), Limit(f"clock-{secrets.token_hex(4)}", 1, HOUR)
    await hit(session_factory, key, limit, "192.0.2.7")  # replica A, its clock right
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + HOUR)  # replica B, an hour ahead
    with pytest.raises(RateLimited) as refused:
        await hit(session_factory, key, limit, "192.0.2.7")
    assert 1 <= refused.value.extensions["retry_after"] <= HOUR


async def test_another_value_has_its_own_count(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    key, limit = secrets.token_bytes(32), Limit(f"clock-{secrets.token_hex(4)}", 1, HOUR)
    await hit(session_factory, key, limit, "192.0.2.7")
    await hit(session_factory, key, limit, "192.0.2.8")
