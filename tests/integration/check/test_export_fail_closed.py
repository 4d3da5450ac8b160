"""A sick database fails an export quickly with a 503 problem: locked tables, a lost connection.

Before the response starts, every wait on PostgreSQL is bounded and every failure, whatever
asyncpg raises, is the documented 503 ``unavailable`` problem, never a 500 or an endless wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx

from services.consent.app import create_app
from services.consent.settings import ConsentSettings, ExportBounds
from shared.settings import Settings
from tests.ledger_helpers import make_purpose

FAST = ExportBounds(connect_timeout_s=0.5, read_timeout_s=0.5)
# What a sender would notice: the read timeout, the connect timeout, and slack.
BOUND_S = 2.5
# A test that must not hang when exports do not bound their waits.
HANG_S = 10


@asynccontextmanager
async def app_client(
    settings: Settings, keyring, bounds: ExportBounds
) -> AsyncIterator[httpx.AsyncClient]:
    """The service on this test's event loop, so a request and the test can run at once
    (``AsyncTestClient`` blocks the test until the response is complete)."""
    app = create_app(settings, keyring=keyring, consent=ConsentSettings(export=bounds))
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver.local"
        ) as client:
            yield client


def assert_unavailable(resp) -> None:
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["type"] == "urn:lupa:problem:unavailable"
    assert body["allowed"] is False and body["reasons"] == ["unavailable"]


async def timed_get(client, path: str, params: dict, headers: dict):
    started = time.monotonic()
    resp = await asyncio.wait_for(client.get(path, params=params, headers=headers), HANG_S)
    return resp, time.monotonic() - started


async def test_exports_from_a_locked_table_are_a_quick_503(
    consent_settings, keyring, auth, new_id, database_url
):
    async with app_client(consent_settings, keyring, FAST) as client:
        await exports_from_a_locked_table(client, auth, new_id, database_url)


async def exports_from_a_locked_table(client, auth, new_id, database_url) -> None:
    plain, kids = new_id("lockp"), new_id("lockk")
    await make_purpose(client, auth, plain)
    await make_purpose(client, auth, kids, min_age=16)
    exports = [
        ("/v1/audience", {"purpose": plain, "channel": "email"}),  # COPY
        ("/v1/audience", {"purpose": kids, "channel": "email"}),  # cursor, age in Python
        ("/v1/suppression", {"channel": "email"}),  # cursor
    ]
    locker = await asyncpg.connect(database_url)
    try:
        async with locker.transaction():
            # Another transaction holds the projection: every export's read waits on the lock.
            await locker.execute("LOCK TABLE consent_state IN ACCESS EXCLUSIVE MODE")
            for path, params in exports:
                resp, took = await timed_get(client, path, params, auth("marketing"))
                assert took < BOUND_S, (path, params)
                assert_unavailable(resp)
    finally:
        await locker.close()
    for path, params in exports:  # the database is well again: so are the exports
        assert (await client.get(path, params=params, headers=auth("marketing"))).status_code == 200


async def test_an_export_whose_purpose_cannot_be_read_is_a_quick_503(
    consent_settings, keyring, auth, new_id, database_url
):
    key = new_id("lockpurpose")
    async with app_client(consent_settings, keyring, FAST) as client:
        await make_purpose(client, auth, key)
        locker = await asyncpg.connect(database_url)
        try:
            async with locker.transaction():
                await locker.execute("LOCK TABLE purposes IN ACCESS EXCLUSIVE MODE")
                resp, took = await timed_get(
                    client, "/v1/audience", {"purpose": key, "channel": "email"}, auth("marketing")
                )
        finally:
            await locker.close()
    assert took < BOUND_S
    assert_unavailable(resp)


async def export_backend_waiting_on_a_lock(database_url: str) -> int:
    """The pid of the export's PostgreSQL backend once it waits on a lock (an event, polled).

    Polled from a connection outside any transaction: inside one, pg_stat_activity is a
    snapshot taken at its first read.
    """
    watcher = await asyncpg.connect(database_url)
    try:
        return await _poll_waiting_export(watcher)
    finally:
        await watcher.close()


async def _poll_waiting_export(watcher: asyncpg.Connection) -> int:
    for _ in range(400):
        pid = await watcher.fetchval(
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = 'lupa-export' AND wait_event_type = 'Lock'"
        )
        if pid is not None:
            return int(pid)
        await asyncio.sleep(0.01)
    raise AssertionError("the export never reached the locked table")


async def test_losing_the_database_after_connecting_is_a_503_not_a_500(
    consent_settings, keyring, auth, new_id, database_url
):
    # Waits long enough that the lost connection, not a timeout, is what fails the export.
    patient = ExportBounds(connect_timeout_s=5, read_timeout_s=30)
    async with app_client(consent_settings, keyring, patient) as client:
        key = new_id("lost")
        await make_purpose(client, auth, key)
        locker = await asyncpg.connect(database_url)
        try:
            async with locker.transaction():
                await locker.execute("LOCK TABLE purposes IN ACCESS EXCLUSIVE MODE")
                request = asyncio.ensure_future(
                    timed_get(
                        client,
                        "/v1/audience",
                        {"purpose": key, "channel": "email"},
                        auth("marketing"),
                    )
                )
                pid = await export_backend_waiting_on_a_lock(database_url)
                await locker.execute("SELECT pg_terminate_backend($1)", pid)
                resp, _ = await request
        finally:
            await locker.close()
    assert_unavailable(resp)
