"""The optimistic consent write: read without the lock, write in one statement only if nothing
moved, and otherwise redo the write under the subject's lock.

A write whose read went stale must never land on top of the change it missed (it was decided
on the state before it), yet the client still gets the write it asked for, decided on the
newest state. The statement is its own transaction, so it must also carry its audit event.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from services.consent.api.request_context import LEDGER_CONTEXT_KEY
from services.consent.db import ledger, optimistic
from services.consent.domain.consents import ConsentRequest, default_collection_method
from services.consent.service.consents import ConsentRecorder
from services.consent.service.evidence import Evidence
from shared.app_base import WRITE_TRANSACTIONS_KEY
from shared.audit.outbox import AuditedTransactions, MissingAuditEvent
from shared.db import statements
from shared.db.statements import Statement
from tests.ledger_helpers import post_consent, scene, until_waiting_for_a_lock


def _withdrawal(purpose: str) -> ConsentRequest:
    return ConsentRequest(
        purpose=purpose,
        channel="email",
        action="withdraw",
        source="api",
        collection_method=default_collection_method("api"),
    )


async def _ledger(database_url: str, ext: str) -> tuple[list[tuple[int, str]], Any]:
    conn = await asyncpg.connect(database_url)
    try:
        events = await conn.fetch(
            "SELECT e.id, e.action FROM consent_events e JOIN subjects s ON s.id = e.subject_id"
            " WHERE s.external_id = $1 ORDER BY e.id",
            ext,
        )
        state = await conn.fetchrow(
            "SELECT c.state, c.last_event_id FROM consent_state c"
            " JOIN subjects s ON s.id = c.subject_id WHERE s.external_id = $1",
            ext,
        )
        return [(row["id"], row["action"]) for row in events], state
    finally:
        await conn.close()


def _interleave(monkeypatch: pytest.MonkeyPatch, change: Any) -> dict[str, int]:
    """Run ``change`` once, right after the first unlocked read; count the request's unlocked
    and locked reads (not those of ``change`` itself)."""
    calls = {"unlocked": 0, "locked": 0, "changing": 0}
    unlocked, locked = optimistic.read_many_for_write, ledger.lock_for_write

    async def read_then_change(*args: Any) -> Any:
        facts = await unlocked(*args)
        calls["unlocked"] += 1
        if calls["unlocked"] == 1:
            calls["changing"] = 1
            await change()
            calls["changing"] = 0
        return facts

    async def counted_lock(*args: Any) -> Any:
        calls["locked"] += 1 - calls["changing"]
        return await locked(*args)

    monkeypatch.setattr(optimistic, "read_many_for_write", read_then_change)
    monkeypatch.setattr(ledger, "lock_for_write", counted_lock)
    return calls


async def test_a_write_that_missed_a_change_is_redone_on_the_newest_state(
    consent, consent_app, auth, new_id, database_url, keyring, monkeypatch
):
    key, ext = await scene(consent, auth, new_id)
    assert (await post_consent(consent, auth, ext, key)).status_code == 201
    context = consent_app.state[LEDGER_CONTEXT_KEY]
    # The app's own pool: the change runs inside the request, on the app's event loop.
    transactions = consent_app.state[WRITE_TRANSACTIONS_KEY]

    async def withdraw_meanwhile() -> None:  # another writer's, on its own connection
        async with transactions.begin() as other:
            await ConsentRecorder(other, keyring, context).record(
                ext, _withdrawal(key), Evidence(ip=None, user_agent=None), "admin:other"
            )

    calls = _interleave(monkeypatch, withdraw_meanwhile)
    # Decided on the first read this would be a grant over a live grant; redone, it grants
    # over the withdrawal that committed in between.
    answer = await post_consent(consent, auth, ext, key, "grant")
    assert answer.status_code == 201, answer.text
    events, state = await _ledger(database_url, ext)
    assert [action for _, action in events] == ["grant", "withdraw", "grant"]
    # The stale read was not written; the write was redone once, under the lock.
    assert (calls["unlocked"], calls["locked"]) == (1, 1)
    assert state["last_event_id"] == events[-1][0] and state["state"] == "granted"
    assert answer.json()["state"]["state"] == "granted"


async def test_a_subject_changed_after_the_read_sends_the_write_under_the_lock(
    consent, auth, new_id, database_url, monkeypatch
):
    key, ext = await scene(consent, auth, new_id)

    async def update_subject() -> None:  # any change to the subject row, e.g. its locale
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE subjects SET locale = 'fi' WHERE external_id = $1", ext)
        finally:
            await conn.close()

    calls = _interleave(monkeypatch, update_subject)
    answer = await post_consent(consent, auth, ext, key, "grant")
    assert answer.status_code == 201, answer.text
    assert (calls["unlocked"], calls["locked"]) == (1, 1)
    events, state = await _ledger(database_url, ext)
    assert [action for _, action in events] == ["grant"]
    assert state["last_event_id"] == events[0][0]


async def test_an_unchanged_read_is_written_in_one_statement_without_the_locked_path(
    consent, auth, new_id, database_url, monkeypatch
):
    key, ext = await scene(consent, auth, new_id)

    async def nothing() -> None:
        return None

    calls = _interleave(monkeypatch, nothing)
    assert (await post_consent(consent, auth, ext, key, "grant")).status_code == 201
    assert (await post_consent(consent, auth, ext, key, "withdraw")).status_code == 201
    assert (calls["unlocked"], calls["locked"]) == (2, 0)
    events, state = await _ledger(database_url, ext)
    assert [action for _, action in events] == ["grant", "withdraw"]
    assert state["state"] == "withdrawn"


async def test_a_write_that_waited_for_the_lock_sees_what_the_holder_committed(
    consent, consent_app, auth, new_id, database_url, engine, keyring
):
    """The statement's snapshot predates its wait; the lock and ON CONFLICT judge the newest
    rows instead, so a write decided before the holder's commit writes nothing."""
    key, ext = await scene(consent, auth, new_id)
    assert (await post_consent(consent, auth, ext, key)).status_code == 201
    context = consent_app.state[LEDGER_CONTEXT_KEY]
    transactions = AuditedTransactions(engine)
    request = _withdrawal(key)
    evidence = Evidence(ip="127.0.0.1", user_agent="test")
    observer = await asyncpg.connect(database_url)
    try:
        async with transactions.single_statements() as unlocked:
            [facts] = await optimistic.read_many_for_write(unlocked, [(ext, key, "email")])
            assert facts is not None and facts.read_at is not None
            # A withdrawal decided on the state before the holder's.
            recorder = ConsentRecorder(unlocked, keyring, context)
            planned = await recorder.plan(facts, request, evidence, "admin:test")
            assert planned.read_at is not None
            async with transactions.begin() as holder:
                await ConsentRecorder(holder, keyring, context).record(
                    ext, request, evidence, "admin:test"
                )  # holds the subject's lock until this block commits
                waiting = asyncio.ensure_future(
                    optimistic.append_if_current(unlocked, [(planned.pending, planned.read_at)])
                )
                await until_waiting_for_a_lock(observer, unlocked.driver.get_server_pid())
            assert await asyncio.wait_for(waiting, 10) == [None]
    finally:
        await observer.close()
    events, state = await _ledger(database_url, ext)
    assert [action for _, action in events] == ["grant", "withdraw"]
    assert state["last_event_id"] == events[-1][0]


_INSERT_PURPOSE = Statement(
    "INSERT INTO purposes (key, legal_basis, channels, double_opt_in_channels,"
    " sale_or_sharing, current_version, min_accepted_version, created_at, updated_at)"
    " VALUES ($1, 'consent', ARRAY['email'], ARRAY[]::text[], false, 1, 1, $2, $2)"
)


async def test_a_single_statement_that_changes_state_without_its_event_is_never_sent(
    engine, database_url
):
    key = f"guard-{uuid.uuid4().hex[:8]}"
    with pytest.raises(MissingAuditEvent):
        async with AuditedTransactions(engine).single_statements() as alone:
            await statements.execute(alone, _INSERT_PURPOSE, key, datetime.now(UTC))
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM purposes WHERE key = $1", key) == 0
    finally:
        await conn.close()
