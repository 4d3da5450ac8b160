"""Relay leadership: a failing step never strands the leader lock; two relays deliver once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.audit.relay import Relay
from shared.db.engine import create_engine
from shared.settings import AuditSettings, DatabaseSettings, sqlalchemy_url
from tests.integration.audit.events import write_event
from tests.integration.audit.nats_reader import read_all, stream_count

pytestmark = pytest.mark.slow
FAST = {"poll_seconds": 0.05, "checkpoint_seconds": 3600.0}


@pytest.fixture
async def other_engine(scratch_url: str) -> AsyncIterator[AsyncEngine]:
    """A second process's pool on the same database: its sessions are never the first's."""
    engine = create_engine(DatabaseSettings(url=sqlalchemy_url(scratch_url), pool_size=5))
    yield engine
    await engine.dispose()


async def until(done: Callable[[], Awaitable[bool]], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not await done():
        assert time.monotonic() < deadline, "no progress"
        await asyncio.sleep(0.05)


async def chained(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(text("SELECT count(*) FROM audit_events WHERE sequence IS NOT NULL"))
        )


class Running:
    """A relay's ``run`` loop in the background, stopped like SIGTERM stops ``lupa relay``."""

    def __init__(self, relay: Relay) -> None:
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(relay.run(self.stop))

    async def end(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 20)


async def test_a_failing_step_leaves_the_relay_and_the_next_one_leading(
    scratch_engine, other_engine, keyring
):
    first = Relay(scratch_engine, keyring, AuditSettings(**FAST), ["consent"])
    real_step, failures = first.step, []

    async def step_failing_once(service: str) -> int:
        if not failures:
            failures.append(service)
            raise RuntimeError("a sink blew up")
        return await real_step(service)

    first.step = step_failing_once  # type: ignore[method-assign]
    for n in range(5):
        await write_event(scratch_engine, n)
    running = Running(first)
    await until(lambda: _at_least(scratch_engine, 5))
    await running.end()
    assert failures == ["consent"]

    for n in range(5, 10):
        await write_event(scratch_engine, n)
    second = Running(Relay(other_engine, keyring, AuditSettings(**FAST), ["consent"]))
    await until(lambda: _at_least(other_engine, 10))  # the lock was not left behind
    await second.end()
    async with other_engine.connect() as conn:
        held = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        )
    assert held == 0


async def _at_least(engine: AsyncEngine, count: int) -> bool:
    return await chained(engine) >= count


async def test_two_relays_deliver_every_event_once_in_order_across_a_handover(
    scratch_engine, other_engine, keyring, nats_server
):
    settings = AuditSettings(nats_url=nats_server.url, delivery_batch=50, **FAST)
    total, writers = 600, 6

    async def write_half(half: int) -> None:
        async def writer(w: int) -> None:
            for i in range(total // 2 // writers):
                await write_event(scratch_engine, half * 10_000 + w * 1000 + i)

        await asyncio.gather(*(writer(w) for w in range(writers)))

    async def delivered_at_least(count: int) -> bool:
        return await stream_count(nats_server.url) >= count

    first = Running(Relay(scratch_engine, keyring, settings, ["consent"]))
    await write_event(scratch_engine, -1)
    await until(lambda: delivered_at_least(1))  # the first one leads
    second = Running(Relay(other_engine, keyring, settings, ["consent"]))
    await write_half(0)  # concurrent writers, both relays running
    await until(lambda: delivered_at_least(total // 2 + 1))
    await first.end()
    await write_half(1)  # only a relay that took over can deliver these
    await until(lambda: delivered_at_least(total + 1), 60)
    await second.end()

    events = await read_all(nats_server.url, total + 1)
    assert [int(e["sequence"]) for e in events] == list(range(1, total + 2))
    assert len({e["id"] for e in events}) == total + 1
    assert await stream_count(nats_server.url) == total + 1  # no duplicate reached the stream
