"""Checks read a real synchronous streaming standby, and never say "allowed" after a withdrawal
was acknowledged — not while the standby serves them, and not once it stops being safe.

The consent app runs in process against a primary and its standby built from PostgreSQL's own
binaries (``tests/streaming_standby.py``); writes go through the API to the primary, checks are
answered from the standby while the guard (``services/consent/service/check_replica.py``)
finds it synchronous and caught up, from the primary otherwise.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from lupa.database import upgrade
from services.consent.api.check_pool import REPLICA_GUARD_KEY
from services.consent.app import create_app
from services.consent.service.check import CHECK_POOL_KEY, CheckService
from services.consent.service.check_replica import ReplicaGuard
from services.consent.settings import CheckBounds, CheckReplica, ConsentSettings
from shared.keys import Keyring
from shared.settings import DatabaseSettings, HttpSettings, Settings, sqlalchemy_url
from tests.ledger_helpers import PURPOSE
from tests.streaming_standby import standby_pair

pytestmark = pytest.mark.slow

NAME = "lupa_check"
# Long enough that a write waiting for a stalled standby is still waiting (the client gives up
# a second after this) when the test cancels it by hand.
WRITE_TIMEOUT_MS = 20_000
POLL_S = 0.2


@dataclass
class Stack:
    client: AsyncTestClient[Litestar]
    service: CheckService
    guard: ReplicaGuard
    primary: asyncpg.Connection
    standby: asyncpg.Connection
    primary_url: str


@pytest.fixture
async def stack(keyring: Keyring, tmp_path) -> AsyncIterator[Stack]:
    with standby_pair(NAME) as pair:
        primary_url = pair.url(pair.primary_port)
        standby_url = pair.url(pair.standby_port)
        await asyncio.to_thread(upgrade, primary_url)
        settings = Settings(
            service="consent",
            database=DatabaseSettings(
                url=sqlalchemy_url(primary_url), pool_size=4, statement_timeout_ms=WRITE_TIMEOUT_MS
            ),
            http=HttpSettings(port=8000, public_base_url="http://testserver.local"),
            keys_path=tmp_path / "keyring.json",
            log_json=True,
            log_level="WARNING",
        )
        replica = CheckReplica(url=standby_url, name=NAME, poll_s=POLL_S)
        app = create_app(
            settings, keyring=keyring, consent=ConsentSettings(check=CheckBounds(replica=replica))
        )
        primary = await asyncpg.connect(primary_url)
        standby = await asyncpg.connect(standby_url)
        try:
            async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
                service, guard = app.state[CHECK_POOL_KEY], app.state[REPLICA_GUARD_KEY]
                yield Stack(client, service, guard, primary, standby, primary_url)
        finally:
            await primary.close()
            await standby.close()


async def until(condition: Callable[[], bool], what: str, deadline_s: float = 15.0) -> None:
    """Wait for ``condition`` (bounded; a deadline, not a timing assertion)."""
    end = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < end, f"gave up waiting: {what}"
        await asyncio.sleep(0.05)


class CancelOnceGuardLeft(threading.Thread):
    """Cancels a Lupa write waiting for the standby, once the guard has left the standby.

    A thread with its own event loop: the in-process test client runs each request to its end
    before the test's loop goes on, so nothing on that loop could act while the write waits.
    """

    def __init__(self, primary_url: str, service: CheckService, deadline_s: float = 15.0) -> None:
        super().__init__(daemon=True)
        self.primary_url, self.service, self.deadline_s = primary_url, service, deadline_s
        self.cancelled = 0
        self.failure: str | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._cancel())
        except Exception as exc:
            self.failure = repr(exc)

    async def _cancel(self) -> None:
        conn = await asyncpg.connect(self.primary_url)
        try:
            end = time.monotonic() + self.deadline_s
            while True:
                waiting = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event = 'SyncRep' AND application_name IN ('lupa', 'lupa-write')"
                )
                if waiting and not self.service.replica_in_use:
                    break
                assert time.monotonic() < end, "no write waited for the standby, or no guard"
                await asyncio.sleep(0.05)
            # OFFSET 0 keeps the filter apart from the call: never cancel anyone else.
            self.cancelled = await conn.fetchval(
                "SELECT count(*) FILTER (WHERE pg_cancel_backend(pid)) FROM (SELECT pid"
                " FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
                " AND application_name IN ('lupa', 'lupa-write') OFFSET 0) AS waiting"
            )
        finally:
            await conn.close()


async def check_connections(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lupa-check'"
        )
    )


class Writer:
    def __init__(self, client: AsyncTestClient[Litestar], auth: Any, purpose: str) -> None:
        self.client, self.admin, self.marketing, self.purpose = (
            client,
            auth("admin"),
            auth("marketing"),
            purpose,
        )

    async def consent(self, subject: str, action: str) -> int:
        resp = await self.client.post(
            f"/v1/subjects/{subject}/consents",
            headers=self.admin,
            json={"purpose": self.purpose, "channel": "email", "action": action},
        )
        return resp.status_code

    async def allowed(self, subject: str) -> Any:
        params = {"subject": subject, "purpose": self.purpose, "channel": "email"}
        resp = await self.client.get("/v1/check", params=params, headers=self.marketing)
        assert resp.status_code == 200, resp.text
        return resp.json()["allowed"]

    async def batch_allowed(self, subjects: list[str]) -> list[Any]:
        resp = await self.client.post(
            "/v1/check/batch",
            headers=self.marketing,
            json={"purpose": self.purpose, "channel": "email", "subjects": subjects},
        )
        assert resp.status_code == 200, resp.text
        return [result["allowed"] for result in resp.json()["results"]]

    async def subject(self, subject: str) -> None:
        resp = await self.client.put(
            f"/v1/subjects/{subject}", json={"locale": "fi"}, headers=self.admin
        )
        assert resp.status_code == 201, resp.text


async def test_checks_read_the_standby_and_never_miss_an_acknowledged_withdrawal(
    stack: Stack, auth, new_id
):
    client, service, guard = stack.client, stack.service, stack.guard
    key = new_id("p")
    assert (
        await client.put(f"/v1/purposes/{key}", json=PURPOSE, headers=auth("admin"))
    ).status_code == 201
    writer = Writer(client, auth, key)
    await until(lambda: service.replica_in_use, "the guard verifies the standby")

    # 1. Served by the standby: each withdrawal is a "no" on the very next check.
    subjects = [new_id("cust") for _ in range(25)]
    for subject in subjects:
        await writer.subject(subject)
        assert await writer.consent(subject, "grant") == 201
        assert await writer.allowed(subject) is True
        assert await writer.consent(subject, "withdraw") == 201
        assert await writer.allowed(subject) is False, subject
    assert await writer.batch_allowed(subjects) == [False] * len(subjects)
    assert service.replica_in_use, guard.reason
    assert await check_connections(stack.standby) >= 1  # the checks' pool is on the standby
    assert await check_connections(stack.primary) == 0  # and none was needed on the primary

    # 2. Replay stalls while the standby still streams and reports "sync": a write now waits
    # for the standby's apply. Cancelled while it waits, PostgreSQL acknowledges it anyway (a
    # warning, not an error) although the standby never applied it. The guard must have left
    # the standby by then.
    late = new_id("cust")
    await writer.subject(late)
    assert await writer.consent(late, "grant") == 201
    assert await writer.allowed(late) is True
    await stack.standby.execute("SELECT pg_wal_replay_pause()")
    canceller = CancelOnceGuardLeft(stack.primary_url, service)
    canceller.start()
    withdrawn = await writer.consent(late, "withdraw")
    canceller.join(timeout=20)
    assert canceller.failure is None and canceller.cancelled == 1, canceller.failure
    assert withdrawn == 201  # acknowledged, although the standby never applied it
    assert guard.reason == "replay_behind"
    assert await stack.standby.fetchval("SELECT pg_is_wal_replay_paused()")
    assert await writer.allowed(late) is False
    assert await writer.batch_allowed([late]) == [False]
    assert await check_connections(stack.primary) >= 1  # answered by the primary

    # The standby catches up and is verified again.
    await stack.standby.execute("SELECT pg_wal_replay_resume()")
    await until(lambda: service.replica_in_use, "the guard trusts the standby again")
    assert await writer.allowed(late) is False

    # 3. The standby stops being synchronous (and stops applying): checks go to the primary.
    await stack.primary.execute("ALTER SYSTEM SET synchronous_standby_names = ''")
    await stack.primary.execute("SELECT pg_reload_conf()")
    await stack.standby.execute("SELECT pg_wal_replay_pause()")
    await until(lambda: not service.replica_in_use, "the guard leaves an async standby")
    assert guard.reason == "sync_state_async"
    after = [new_id("cust") for _ in range(10)]
    for subject in after:
        await writer.subject(subject)
        assert await writer.consent(subject, "grant") == 201
        assert await writer.consent(subject, "withdraw") == 201
        assert await writer.allowed(subject) is False, subject
    assert await writer.batch_allowed(after) == [False] * len(after)
    assert not service.replica_in_use
