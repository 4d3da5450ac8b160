"""Single checks gathered into one statement answer exactly as checks read one by one.

Checks that arrive while a statement is in flight leave together (``GatheredChecks``): each
must still get its own subject's, purpose's and channel's answer, see every write acknowledged
before it was asked, and fail closed with the others when their statement fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from services.consent.db import check_query
from services.consent.service.check import CheckService, CheckSettings, create_check_pool
from shared.errors import Unavailable
from shared.settings import asyncpg_dsn
from tests.api.check.helpers import granted
from tests.ledger_helpers import make_purpose, make_subject, post_consent


class CountedChecks(CheckService):
    """A check service that counts the statements it sends, and can hold them at a gate."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.statements: list[int] = []  # checks per statement sent
        self.gate = asyncio.Event()
        self.gate.set()

    async def _run(self, fetch: Any, *args: Any) -> Any:
        self.statements.append(len(args[0]) if fetch is check_query.fetch_gathered else 1)
        await self.gate.wait()
        return await super()._run(fetch, *args)


@pytest.fixture
async def checks(database_url: str, keyring) -> AsyncIterator[CountedChecks]:
    settings = CheckSettings(dsn=asyncpg_dsn(database_url), pool_size=4)
    pool = await create_check_pool(settings)
    service = CountedChecks(pool, keyring, settings)
    service.gathered.max_in_flight = 1  # everything asked while one statement runs gathers
    try:
        yield service
    finally:
        await service.close()
        await pool.close()


async def test_gathered_checks_each_get_the_answer_a_lone_check_gets(consent, auth, new_id, checks):
    key, ext, event_id = await granted(consent, auth, new_id)
    sms_only = new_id("p")
    await make_purpose(consent, auth, sms_only, channels=["sms"])
    withdrawn = new_id("cust")
    await make_subject(consent, auth, withdrawn)
    assert (await post_consent(consent, auth, withdrawn, key)).status_code == 201
    assert (await post_consent(consent, auth, withdrawn, key, "withdraw")).status_code == 201
    asked = [
        (ext, key, "email"),
        (withdrawn, key, "email"),
        (new_id("nobody"), key, "email"),
        (ext, key, "sms"),
        (ext, "no-such-purpose", "email"),
        (ext, sms_only, "email"),
        (ext, key, "email"),  # the same check twice in one statement
    ]
    alone = [await checks.check(*wanted, None) for wanted in asked]
    assert checks.statements == [1] * len(asked)

    checks.statements.clear()
    together = await asyncio.gather(*(checks.check(*wanted, None) for wanted in asked))

    assert checks.statements == [1, len(asked) - 1]  # the first alone, the rest gathered
    assert together == alone
    assert together[0].allowed and str(together[0].evidence) == event_id
    assert together[1].reasons == ("withdrawn",)
    assert not any(d.allowed for d in together[1:6])
    assert len({d.reasons for d in together[1:6]}) == 5  # five different reasons for a no


async def test_a_check_queued_behind_a_statement_sees_a_withdrawal_acknowledged_before_it(
    consent, auth, new_id, checks
):
    key, ext, _ = await granted(consent, auth, new_id)
    other = new_id("cust")
    checks.gate.clear()  # the first statement waits at the gate, holding the only slot
    first = asyncio.create_task(checks.check(other, key, "email", None))
    await asyncio.sleep(0)
    withdraw = await post_consent(consent, auth, ext, key, "withdraw")
    assert withdraw.status_code == 201
    queued = asyncio.create_task(checks.check(ext, key, "email", None))
    await asyncio.sleep(0)
    checks.gate.set()

    answer = await queued
    await first
    assert answer.allowed is False and answer.reasons == ("withdrawn",)
    assert checks.statements == [1, 1]


async def test_a_failed_statement_fails_every_check_in_it_closed_and_the_next_ones_run(
    consent, auth, new_id, checks, monkeypatch
):
    key, ext, _ = await granted(consent, auth, new_id)

    async def broken(conn: asyncpg.Connection, wanted: Any) -> Any:
        raise asyncpg.QueryCanceledError("canceling statement due to statement timeout")

    monkeypatch.setattr(check_query, "fetch_gathered", broken)
    checks.gate.clear()
    asked = [asyncio.create_task(checks.check(ext, key, "email", None)) for _ in range(5)]
    await asyncio.sleep(0)
    checks.gate.set()
    outcomes = await asyncio.gather(*asked, return_exceptions=True)

    assert outcomes[0].allowed  # alone, on the single statement
    assert all(isinstance(o, Unavailable) for o in outcomes[1:])
    assert all(o.extensions["allowed"] is False for o in outcomes[1:])
    monkeypatch.undo()
    assert (await checks.check(ext, key, "email", None)).allowed


async def test_a_caller_that_gives_up_does_not_disturb_the_checks_gathered_with_it(
    consent, auth, new_id, checks
):
    key, ext, _ = await granted(consent, auth, new_id)
    checks.gate.clear()
    first = asyncio.create_task(checks.check(ext, key, "email", None))
    await asyncio.sleep(0)
    gone = asyncio.create_task(checks.check(ext, key, "email", None))
    kept = [asyncio.create_task(checks.check(ext, key, "email", None)) for _ in range(3)]
    await asyncio.sleep(0)
    gone.cancel()
    checks.gate.set()

    assert (await first).allowed
    assert all(d.allowed for d in await asyncio.gather(*kept))
    assert gone.cancelled()
    assert checks.statements == [1, 3]  # the cancelled check was never sent


async def test_the_gathered_statement_finds_subjects_through_the_index(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SET enable_seqscan = off")  # what a large table gets anyway
        plan = await conn.fetchval(
            f"EXPLAIN (FORMAT JSON) {check_query.GATHERED}",
            ["a", "b"],
            ["p", "p"],
            ["email", "sms"],
        )
    finally:
        await conn.close()
    assert "check_facts_by_external_id" in plan and "Index Scan" in plan
