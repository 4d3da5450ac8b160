"""Webhooks: signed, in order, nothing lost while the receiver is down; dead letters otherwise."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from structlog.testing import capture_logs

from lupa.key_rotation import retire_kek, rotate_kek
from shared.audit import webhook_store as store
from shared.audit.outbox import audited_sessions
from shared.audit.relay import Relay
from shared.audit.webhooks import seal_secret
from shared.keys import Keyring, load_keyring, save_keyring
from shared.settings import AuditSettings
from tests.cloudevents_judge import assert_sequences_sort_like_numbers, judged
from tests.integration.audit.conftest import free_port
from tests.integration.audit.events import chained_rows, write_event
from tests.integration.audit.receiver import Receiver

pytestmark = pytest.mark.slow


def verified(secret: str, received) -> bool:
    """The delivery checks out with the Standard Webhooks reference library."""
    try:
        Webhook(secret).verify(received.body, dict(received.headers))
    except WebhookVerificationError:
        return False
    return True


SECRET = "whsec_" + base64.b64encode(b"s3cret-s3cret-s3cret-s3cret-32b!").decode()


async def subscribe(engine, keyring, url: str) -> uuid.UUID:
    sub_id = uuid.uuid4()
    kek_id, sealed = seal_secret(keyring, sub_id, SECRET)
    async with engine.begin() as conn:
        await store.create_subscription(conn, sub_id, "consent", url, [], kek_id, sealed)
    return sub_id


def fast_retries(attempts: int) -> AuditSettings:
    return AuditSettings(
        webhook_max_attempts=attempts,
        webhook_backoff_base=0.01,
        webhook_backoff_max=0.05,
        webhook_timeout=2,
    )


async def relay_until(relay: Relay, done, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not await done() and time.monotonic() < deadline:
        await relay.step("consent")


async def test_a_receiver_down_for_a_while_gets_everything_in_order_signed(scratch_engine, keyring):
    receiver = Receiver(port=free_port())
    await subscribe(scratch_engine, keyring, receiver.url)
    relay = Relay(scratch_engine, keyring, fast_retries(1000), ["consent"])
    for n in range(10):
        await write_event(scratch_engine, n)
    for _ in range(5):
        await relay.step("consent")  # connection refused: retried later, never dropped
    await receiver.start()

    async def all_arrived() -> bool:
        return len(receiver.received) >= 10

    await relay_until(relay, all_arrived)
    await relay.close()
    await receiver.stop()
    events = [judged(r.body) for r in receiver.received]  # structured mode: the body is it
    assert all(
        r.headers["content-type"] == "application/cloudevents+json" for r in receiver.received
    )
    assert [e.get_data()["n"] for e in events] == list(range(10))
    assert [int(e.get_extension("sequence")) for e in events] == list(range(1, 11))
    assert_sequences_sort_like_numbers(events)  # "…09" before "…10"
    assert all(verified(SECRET, r) for r in receiver.received)
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 10
    wrong = "whsec_" + base64.b64encode(b"another-secret-another-secret!!").decode()
    assert not verified(wrong, receiver.received[0])


async def test_an_always_failing_receiver_ends_in_dead_letters_that_can_be_replayed(
    scratch_engine, keyring
):
    receiver = Receiver(status=500)
    await receiver.start()
    sub_id = await subscribe(scratch_engine, keyring, receiver.url)
    relay = Relay(scratch_engine, keyring, fast_retries(3), ["consent"])
    for n in range(3):
        await write_event(scratch_engine, n)

    async def dead() -> list[store.DeadLetter]:
        async with scratch_engine.connect() as conn:
            return await store.list_dead_letters(conn, "consent", 100)

    async def all_dead() -> bool:
        return len(await dead()) == 3

    await relay_until(relay, all_dead)
    letters = await dead()
    assert sorted(d.sequence for d in letters) == [1, 2, 3]
    assert all(d.attempts == 3 and d.last_error == "HTTP 500" for d in letters)

    receiver.status = 200
    async with scratch_engine.begin() as conn:
        await store.request_replay(conn, "consent", letters[0].id)

    async def replayed() -> bool:
        return len(receiver.received) == 1

    await relay_until(relay, replayed)
    await relay.close()
    await receiver.stop()
    assert int(judged(receiver.received[0].body).get_extension("sequence")) == letters[0].sequence
    async with scratch_engine.connect() as conn:
        done = await conn.scalar(
            text("SELECT replayed_at FROM webhook_dead_letters WHERE id = :id"),
            {"id": letters[0].id},
        )
    assert done is not None and sub_id


async def test_a_subscription_whose_key_is_gone_never_stalls_the_chain_or_the_others(
    scratch_engine, keyring
):
    good, lost = Receiver(), Receiver()
    await good.start()
    await lost.start()
    await subscribe(scratch_engine, keyring, good.url)
    orphan = await subscribe(scratch_engine, Keyring.generate(), lost.url)  # a KEK we lack
    relay = Relay(scratch_engine, keyring, fast_retries(3), ["consent"])
    for n in range(5):
        await write_event(scratch_engine, n)
    with capture_logs() as logs:
        await relay_until(relay, lambda: _received(good, 5))
    await relay.close()
    await good.stop()
    await lost.stop()
    assert [json.loads(r.body)["data"]["n"] for r in good.received] == list(range(5))
    assert [r["sequence"] for r in await chained_rows(scratch_engine)] == [1, 2, 3, 4, 5]
    assert lost.received == []
    failed = [e for e in logs if e["event"] == "webhook_subscription_failed"]
    assert failed and {e["subscription"] for e in failed} == {str(orphan)}
    assert failed[0]["error"] == "UnknownKey" and SECRET not in str(logs)


async def _received(receiver: Receiver, count: int) -> bool:
    return len(receiver.received) >= count


async def test_a_webhook_keeps_its_deliveries_through_kek_rotation_and_retirement(
    scratch_engine, tmp_path
):
    path = tmp_path / "keyring.json"
    save_keyring(path, Keyring.generate())
    first = load_keyring(path)
    receiver = Receiver()
    await receiver.start()
    await subscribe(scratch_engine, first, receiver.url)
    sessions = audited_sessions(scratch_engine)
    rotated, report = await rotate_kek(sessions, first, lambda k: save_keyring(path, k))
    assert report is not None and report.secrets_resealed == 1
    await retire_kek(sessions, rotated, first.active_kek_id, lambda k: save_keyring(path, k))

    await write_event(scratch_engine, 1)
    relay = Relay(scratch_engine, load_keyring(path), fast_retries(3), ["consent"])  # restarted
    await relay_until(relay, lambda: _received(receiver, 4))
    await relay.close()
    await receiver.stop()
    assert [
        json.loads(r.body)["type"].removeprefix("fi.lupa.consent.") for r in receiver.received
    ] == [
        "keys.rotated",
        "keys.webhook_secrets_rewrapped",
        "keys.retired",
        "test.written",
    ]
    assert all(verified(SECRET, r) for r in receiver.received)
