"""Borrowed connections (shared/db/borrowed.py) as checks use them: bounded, fair, healing."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from services.consent.service.check import CheckService, CheckSettings, create_check_pool
from shared.errors import Unavailable
from shared.settings import asyncpg_dsn


@pytest.fixture
async def service(database_url, keyring):
    settings = CheckSettings(dsn=asyncpg_dsn(database_url), pool_size=2)
    pool = await create_check_pool(settings)
    service = CheckService(pool, keyring, settings)
    try:
        yield service
    finally:
        await service.close()
        await pool.close()


async def test_many_concurrent_checks_share_two_connections(service):
    decisions = await asyncio.gather(
        *(service.check(f"nobody-{i}", "no-such-purpose", "email", None) for i in range(60))
    )
    assert all(d.reasons == ("unknown_subject", "unknown_purpose") for d in decisions)
    assert service.conns.borrowed <= 2


async def test_connections_killed_by_the_server_are_replaced(service, database_url):
    await asyncio.gather(*(service.check(f"x{i}", "p", "email", None) for i in range(10)))
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'lupa-check' AND datname = current_database()"
        )
    finally:
        await admin.close()
    outcomes = []
    for i in range(6):
        try:
            outcomes.append((await service.check(f"y{i}", "p", "email", None)).allowed)
        except Unavailable:
            outcomes.append("unavailable")  # a broken connection is a "no", never a yes
    assert all(outcome is not True for outcome in outcomes), "a yes after a killed connection"
    assert outcomes[-1] is False  # healed: a real answer again
    assert service.conns.borrowed <= 2


async def test_a_check_cancelled_while_waiting_loses_no_connection(service):
    slow = [service.check(f"z{i}", "p", "email", None) for i in range(40)]
    tasks = [asyncio.ensure_future(c) for c in slow]
    await asyncio.sleep(0)
    for task in tasks[::3]:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    done = await asyncio.gather(*(service.check(f"w{i}", "p", "email", None) for i in range(10)))
    assert len(done) == 10 and service.conns.borrowed <= 2
