"""A one-click link POSTed several times at once (providers retry) records one withdrawal.

The requests really run together (``tests/concurrency.py``), and the subject's row is held
locked until every one of them is waiting on it: each has then done whatever it does before
taking the lock. Checking "already withdrawn" before the lock would let every one of them see
the grant and then withdraw in turn.
"""

from __future__ import annotations

import asyncio

import asyncpg

from tests.api.check.helpers import check, granted
from tests.concurrency import Race, race

ONE_CLICK = {"List-Unsubscribe": "One-Click"}
RETRIES = 4


async def waiting_on_a_lock(watcher: asyncpg.Connection, count: int) -> None:
    """Return once ``count`` backends of this database wait on a lock (an event, polled)."""
    for _ in range(1000):
        waiting = await watcher.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {count} requests ever waited on the subject")


async def race_held_at_the_subject(consent, database_url: str, ext: str, requests) -> Race:
    """Send ``requests`` at once while the subject's row is locked; release it once every one
    of them waits on it."""
    locker = await asyncpg.connect(database_url)
    watcher = await asyncpg.connect(database_url)
    try:
        async with locker.transaction():
            await locker.execute("SELECT 1 FROM subjects WHERE external_id = $1 FOR UPDATE", ext)
            running = asyncio.create_task(race(consent, requests))
            await waiting_on_a_lock(watcher, len(requests))
        return await running
    finally:
        await locker.close()
        await watcher.close()


async def test_simultaneous_one_click_posts_withdraw_once(consent, auth, new_id, database_url):
    key, ext, _ = await granted(consent, auth, new_id)
    minted = await consent.post(
        "/v1/unsubscribe-links",
        json={"purpose": key, "channel": "email", "subjects": [ext]},
        headers=auth("marketing"),
    )
    path = minted.json()["links"][0]["url"].removeprefix("http://testserver.local")
    retries = [consent.build_request("POST", path, data=ONE_CLICK) for _ in range(RETRIES)]
    raced = await race_held_at_the_subject(consent, database_url, ext, retries)
    assert raced.statuses() == [200] * RETRIES and raced.most_in_flight == RETRIES
    history = await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("admin"))
    assert [e["action"] for e in history.json()] == ["grant", "withdraw"]
    assert (await check(consent, auth, ext, key))["reasons"] == ["withdrawn"]
