"""Optimistic writes gathered into batches: writes that arrive while a batch is in flight leave
together, in two statements, and each still lands, or is refused, or goes under the lock,
exactly as it would alone. A write with an Idempotency-Key commits with its stored answer, or
leaves its key as it found it.

The batches here are made by an ``OptimisticWrites`` with one batch in flight at a time (on the
test's own connections): the first write leaves alone, the writes queued behind it leave
together once it is done.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import asyncpg
import msgspec
import pytest

from services.consent.api.request_context import LEDGER_CONTEXT_KEY
from services.consent.db import optimistic
from services.consent.domain.consents import ConsentRequest, default_collection_method
from services.consent.domain.errors import UnknownPurpose
from services.consent.service.consents import ConsentRecorded, ConsentRecorder
from services.consent.service.evidence import Evidence
from services.consent.service.optimistic import OptimisticWrites
from shared.app_base import KEYRING_KEY
from shared.audit.outbox import AuditedTransactions
from shared.errors import NotFound
from shared.idempotency import request_hash
from shared.idempotency_store import Claim
from tests.jose_judge import judged
from tests.ledger_helpers import change_subject_after_read, make_subject, post_consent, scene

EVIDENCE = Evidence(ip="127.0.0.1", user_agent="test")


def _write(purpose: str, action: str = "grant") -> ConsentRequest:
    return ConsentRequest(
        purpose=purpose,
        channel="email",
        action=action,
        source="api",
        collection_method=default_collection_method("api"),
    )


def _writes(app: Any, engine: Any, max_in_flight: int = 1) -> OptimisticWrites:
    """The app's keys and ledger context, on connections of the test's own event loop."""
    state = app.state
    return OptimisticWrites(
        AuditedTransactions(engine),
        state[KEYRING_KEY],
        state[LEDGER_CONTEXT_KEY],
        max_in_flight=max_in_flight,
    )


def _count_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch appended from now on, in order."""
    sizes: list[int] = []
    append = optimistic.append_if_current

    async def counted(session: Any, appends: Any) -> Any:
        sizes.append(len(appends))
        return await append(session, appends)

    monkeypatch.setattr(optimistic, "append_if_current", counted)
    return sizes


async def _subjects(consent: Any, auth: Any, new_id: Any, n: int) -> list[str]:
    names = [new_id("batch") for _ in range(n)]
    for name in names:
        await make_subject(consent, auth, name)
    return names


async def _ledger(database_url: str, ext: str) -> tuple[list[Any], Any, list[Any]]:
    """The subject's ledger rows, its projection row and its consent audit events."""
    conn = await asyncpg.connect(database_url)
    try:
        subject_id = await conn.fetchval("SELECT id FROM subjects WHERE external_id = $1", ext)
        events = await conn.fetch(
            "SELECT id, event_id, action FROM consent_events WHERE subject_id = $1 ORDER BY id",
            subject_id,
        )
        state = await conn.fetchrow(
            "SELECT state, last_event_id FROM consent_state WHERE subject_id = $1", subject_id
        )
        audit = await conn.fetch(
            "SELECT type, data FROM audit_events WHERE subject = $1"
            " AND data ? 'ledger_event_id' ORDER BY id",
            str(subject_id),
        )
        return list(events), state, list(audit)
    finally:
        await conn.close()


async def test_writes_queued_behind_a_batch_leave_together_and_each_lands_whole(
    consent, consent_app, auth, new_id, database_url, engine, monkeypatch
):
    key, _ = await scene(consent, auth, new_id)
    names = await _subjects(consent, auth, new_id, 8)
    sizes = _count_batches(monkeypatch)
    writes = _writes(consent_app, engine)
    answers = await asyncio.gather(
        *(writes.record(name, _write(key), EVIDENCE, "admin:test") for name in names)
    )
    assert sizes == [1, 7]
    keys = (await consent.get("/.well-known/jwks.json")).json()
    for name, answer in zip(names, answers, strict=True):
        assert isinstance(answer, ConsentRecorded) and answer.state.state == "granted"
        events, state, audit = await _ledger(database_url, name)
        # One ledger row, the projection on it, one audit event naming it, a receipt that an
        # independent JOSE library verifies and that names this very event.
        assert [(row["event_id"], row["action"]) for row in events] == [
            (answer.event.event_id, "grant")
        ]
        assert state["state"] == "granted" and state["last_event_id"] == events[0]["id"]
        assert len(audit) == 1
        assert json.loads(audit[0]["data"])["ledger_event_id"] == str(answer.event.event_id)
        claims = judged(answer.receipt.jws, keys, "consent-receipt+jwt", "urn:lupa:consent-receipt")
        assert str(answer.event.event_id) in json.dumps(claims)
    check = await consent.get(
        "/v1/check",
        params={"subject": names[-1], "purpose": key, "channel": "email"},
        headers=auth("admin"),
    )
    assert check.status_code == 200 and check.json()["allowed"] is True


async def test_a_second_write_of_one_subject_waits_for_the_next_batch(
    consent, consent_app, auth, new_id, database_url, engine, monkeypatch
):
    key, first = await scene(consent, auth, new_id)
    [second] = await _subjects(consent, auth, new_id, 1)
    sizes = _count_batches(monkeypatch)
    writes = _writes(consent_app, engine)
    answers = await asyncio.gather(
        writes.record(first, _write(key, "grant"), EVIDENCE, "admin:test"),
        writes.record(first, _write(key, "withdraw"), EVIDENCE, "admin:test"),
        writes.record(second, _write(key, "grant"), EVIDENCE, "admin:test"),
        writes.record(first, _write(key, "grant"), EVIDENCE, "admin:test"),
    )
    # The first alone; then the withdrawal with the other subject's grant; the last grant of
    # the first subject is decided only once its withdrawal has landed.
    assert sizes == [1, 2, 1]
    assert [a.state.state for a in answers if a is not None] == [
        "granted",
        "withdrawn",
        "granted",
        "granted",
    ]
    events, state, audit = await _ledger(database_url, first)
    assert [row["action"] for row in events] == ["grant", "withdraw", "grant"]
    assert state["last_event_id"] == events[-1]["id"] and state["state"] == "granted"
    assert len(audit) == 3


async def test_a_write_of_a_subject_in_flight_waits_for_that_batch_not_for_a_stale_read(
    consent, consent_app, auth, new_id, database_url, engine, monkeypatch
):
    key, first = await scene(consent, auth, new_id)
    [second] = await _subjects(consent, auth, new_id, 1)
    sizes = _count_batches(monkeypatch)
    writes = _writes(consent_app, engine, max_in_flight=2)
    answers = await asyncio.gather(
        writes.record(first, _write(key, "grant"), EVIDENCE, "admin:test"),
        writes.record(first, _write(key, "withdraw"), EVIDENCE, "admin:test"),
        writes.record(second, _write(key, "grant"), EVIDENCE, "admin:test"),
    )
    # A second batch was free, but the withdrawal's subject was in the first: the other
    # subject's grant went in it instead, and the withdrawal, sent after the grant had landed,
    # was written on its first try (None would mean a stale read).
    assert sizes == [1, 1, 1]
    assert [a.state.state if a else None for a in answers] == ["granted", "withdrawn", "granted"]
    events, _, _ = await _ledger(database_url, first)
    assert [row["action"] for row in events] == ["grant", "withdraw"]


async def test_two_appends_of_one_subject_are_never_sent_in_one_statement(
    consent, consent_app, auth, new_id, engine, keyring
):
    key, ext = await scene(consent, auth, new_id)
    transactions = AuditedTransactions(engine)
    async with transactions.single_statements() as unlocked:
        [facts] = await optimistic.read_many_for_write(unlocked, [(ext, key, "email")])
        recorder = ConsentRecorder(unlocked, keyring, consent_app.state[LEDGER_CONTEXT_KEY])
        plans = [await recorder.plan(facts, _write(key), EVIDENCE, "admin:test") for _ in "ab"]
        with pytest.raises(ValueError, match="one optimistic append per subject"):
            await optimistic.append_if_current(
                unlocked, [(plan.pending, plan.read_at) for plan in plans]
            )


async def test_a_refused_write_leaves_the_rest_of_its_batch_written(
    consent, consent_app, auth, new_id, database_url, engine, monkeypatch
):
    key, ext = await scene(consent, auth, new_id)
    [other] = await _subjects(consent, auth, new_id, 1)
    sizes = _count_batches(monkeypatch)
    writes = _writes(consent_app, engine)
    answers = await asyncio.gather(
        writes.record(other, _write(key), EVIDENCE, "admin:test"),
        writes.record(ext, _write("no-such-purpose"), EVIDENCE, "admin:test"),
        writes.record(new_id("nobody"), _write(key), EVIDENCE, "admin:test"),
        writes.record(ext, _write(key), EVIDENCE, "admin:test"),
        return_exceptions=True,
    )
    assert isinstance(answers[1], UnknownPurpose)
    assert isinstance(answers[2], NotFound)
    assert isinstance(answers[3], ConsentRecorded)
    # The refusals were decided on the batch's read: one ledger row for ext, its grant; the
    # batch sent to the database held only it (the unknown subject's write has no subject).
    assert sizes == [1, 1]
    events, _, _ = await _ledger(database_url, ext)
    assert [row["action"] for row in events] == ["grant"]


async def test_a_stale_read_in_a_batch_goes_back_alone_and_the_others_land(
    consent, consent_app, auth, new_id, database_url, engine, monkeypatch
):
    key, changed = await scene(consent, auth, new_id)
    [steady] = await _subjects(consent, auth, new_id, 1)
    change_subject_after_read(monkeypatch, database_url, changed)
    writes = _writes(consent_app, engine, max_in_flight=3)
    stale, landed = await asyncio.gather(
        *(writes.record(ext, _write(key), EVIDENCE, "admin:test") for ext in (changed, steady))
    )
    assert stale is None and isinstance(landed, ConsentRecorded)
    assert (await _ledger(database_url, changed))[0] == []
    assert [row["action"] for row in (await _ledger(database_url, steady))[0]] == ["grant"]


async def test_a_batch_refused_as_a_whole_is_recorded_under_the_lock_one_by_one(
    consent, auth, new_id, database_url, monkeypatch
):
    """A statement that fails writes none of its batch; each write is then recorded under the
    subject's lock, once, and answered as if nothing had happened."""
    key, _ = await scene(consent, auth, new_id)
    names = await _subjects(consent, auth, new_id, 6)
    append = optimistic.append_if_current
    refused: list[type[BaseException]] = []

    async def with_one_bad_row(session: Any, appends: Any) -> Any:
        # The first row names a purpose version that does not exist: the database refuses
        # the whole statement (a foreign key), as it would any row breaking a constraint.
        pending, read_at = appends[0]
        bad = dataclasses.replace(pending, new=msgspec.structs.replace(pending.new, version=999))
        try:
            return await append(session, [(bad, read_at), *appends[1:]])
        except asyncpg.PostgresError as error:
            refused.append(type(error))
            raise

    monkeypatch.setattr(optimistic, "append_if_current", with_one_bad_row)
    answers = await asyncio.gather(*(post_consent(consent, auth, name, key) for name in names))
    assert [answer.status_code for answer in answers] == [201] * len(names)
    assert refused and set(refused) == {asyncpg.ForeignKeyViolationError}
    for name, answer in zip(names, answers, strict=True):
        events, state, audit = await _ledger(database_url, name)
        assert [str(row["event_id"]) for row in events] == [answer.json()["event"]["event_id"]]
        assert state["last_event_id"] == events[0]["id"] and len(audit) == 1


def _claim(key: str, ext: str, body: bytes = b"{}") -> Claim:
    return Claim("admin:test-token", key, request_hash("POST", f"/v1/subjects/{ext}", body))


async def _keys(database_url: str, *claims: Claim) -> dict[str, tuple[int, Any]]:
    """The stored (status, response) of each claim's key that exists, by key."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT key, status_code, response FROM idempotency_keys"
            " WHERE principal = $1 AND key = ANY($2::text[])",
            claims[0].principal,
            [claim.key for claim in claims],
        )
    finally:
        await conn.close()
    return {row["key"]: (row["status_code"], json.loads(row["response"])) for row in rows}


async def test_keyed_writes_in_a_batch_commit_with_their_stored_answers(
    consent, consent_app, auth, new_id, database_url, engine, monkeypatch
):
    key, _ = await scene(consent, auth, new_id)
    names = await _subjects(consent, auth, new_id, 5)
    sizes = _count_batches(monkeypatch)
    writes = _writes(consent_app, engine)
    claims = [_claim(new_id("k"), name) for name in names[:4]]
    answers = await asyncio.gather(
        *(
            writes.record(name, _write(key), EVIDENCE, "admin:test", claim)
            for name, claim in zip(names, [*claims, None], strict=True)  # the last: no key
        )
    )
    assert sizes == [1, 4]
    stored = await _keys(database_url, *claims)
    for claim, answer in zip(claims, answers[:4], strict=True):
        assert isinstance(answer, ConsentRecorded)
        # The key holds the very answer given, as the locked path would have stored it.
        assert stored[claim.key] == (201, json.loads(msgspec.json.encode(answer)))
    for name, answer in zip(names, answers, strict=True):
        events, _, _ = await _ledger(database_url, name)
        assert [row["event_id"] for row in events] == [answer.event.event_id]


async def test_a_key_already_held_is_left_to_the_locked_path_and_nothing_is_written(
    consent, consent_app, auth, new_id, database_url, engine
):
    key, ext = await scene(consent, auth, new_id)
    [other] = await _subjects(consent, auth, new_id, 1)
    writes = _writes(consent_app, engine)
    claim = _claim(new_id("k"), ext)
    first = await writes.record(ext, _write(key), EVIDENCE, "admin:test", claim)
    assert isinstance(first, ConsentRecorded)
    before = await _keys(database_url, claim)
    # The same key again, for another subject: a reuse the locked path refuses.
    assert await writes.record(other, _write(key), EVIDENCE, "admin:test", claim) is None
    assert (await _ledger(database_url, other))[0] == []
    assert await _keys(database_url, claim) == before


async def test_one_key_twice_in_a_batch_writes_only_the_first(
    consent, consent_app, auth, new_id, database_url, engine, monkeypatch
):
    key, _ = await scene(consent, auth, new_id)
    names = await _subjects(consent, auth, new_id, 3)
    sizes = _count_batches(monkeypatch)
    writes = _writes(consent_app, engine)
    shared = _claim(new_id("k"), "shared")
    answers = await asyncio.gather(
        writes.record(names[0], _write(key), EVIDENCE, "admin:test"),
        writes.record(names[1], _write(key), EVIDENCE, "admin:test", shared),
        writes.record(names[2], _write(key), EVIDENCE, "admin:test", shared),
    )
    assert sizes == [1, 1]  # the second holder of the key was never appended
    assert isinstance(answers[1], ConsentRecorded) and answers[2] is None
    assert (await _ledger(database_url, names[2]))[0] == []
    assert (await _keys(database_url, shared))[shared.key][0] == 201


async def test_a_keyed_write_whose_read_went_stale_lets_its_key_go(
    consent, consent_app, auth, new_id, database_url, engine, monkeypatch
):
    key, changed = await scene(consent, auth, new_id)
    [steady] = await _subjects(consent, auth, new_id, 1)
    change_subject_after_read(monkeypatch, database_url, changed)
    writes = _writes(consent_app, engine, max_in_flight=3)
    stale_claim, landed_claim = _claim(new_id("k"), changed), _claim(new_id("k"), steady)
    stale, landed = await asyncio.gather(
        writes.record(changed, _write(key), EVIDENCE, "admin:test", stale_claim),
        writes.record(steady, _write(key), EVIDENCE, "admin:test", landed_claim),
    )
    assert stale is None and isinstance(landed, ConsentRecorded)
    # Free for the locked path to claim when it records the stale write.
    assert set(await _keys(database_url, stale_claim, landed_claim)) == {landed_claim.key}


async def test_a_refused_keyed_write_and_a_refused_batch_leave_no_key_behind(
    consent, consent_app, auth, new_id, database_url, engine, monkeypatch
):
    key, ext = await scene(consent, auth, new_id)
    writes = _writes(consent_app, engine)
    refused_claim = _claim(new_id("k"), ext)
    with pytest.raises(UnknownPurpose):
        await writes.record(ext, _write("no-such-purpose"), EVIDENCE, "admin:test", refused_claim)

    async def deadlocked(session: Any, appends: Any) -> Any:
        raise asyncpg.DeadlockDetectedError("deadlock detected")

    monkeypatch.setattr(optimistic, "append_if_current", deadlocked)
    batch_claim = _claim(new_id("k"), ext)
    assert await writes.record(ext, _write(key), EVIDENCE, "admin:test", batch_claim) is None
    # The claim was rolled back with the batch: the locked path finds the key free.
    assert await _keys(database_url, refused_claim, batch_claim) == {}
    assert (await _ledger(database_url, ext))[0] == []
