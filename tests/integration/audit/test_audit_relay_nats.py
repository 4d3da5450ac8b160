"""The relay to NATS JetStream: in order, at least once, surviving a SIGKILL and a NATS outage."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest
from nats.js import JetStreamContext
from sqlalchemy import text

from shared.audit.checkpoints import CHECKPOINT_TOKEN
from shared.audit.relay import Relay
from shared.auth.tokens import verify_claims
from shared.db.engine import create_engine
from shared.settings import AuditSettings, DatabaseSettings, sqlalchemy_url
from tests.cloudevents_judge import assert_sequences_sort_like_numbers
from tests.conftest import migrated_database
from tests.integration.audit.events import bulk_insert, write_event
from tests.integration.audit.nats_reader import read_all, read_checkpoints, stream_count

pytestmark = pytest.mark.slow


def _relay_process(url: str, nats_url: str, keys_file, *extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LUPA_NATS_URL": nats_url,
        "LUPA_KEYS_FILE": str(keys_file),
        "LUPA_RELAY_BATCH": "100",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "lupa", "relay", "--service", "consent", *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_events_reach_nats_in_order_with_subjects_and_ids(
    scratch_engine, keyring, nats_server
):
    for n in range(11):
        await write_event(scratch_engine, n)
    relay = Relay(scratch_engine, keyring, AuditSettings(nats_url=nats_server.url), ["consent"])
    await relay.drain("consent")
    await relay.close()
    events = await read_all(nats_server.url, 11)  # each one read by the CloudEvents SDK
    assert [int(e["sequence"]) for e in events] == list(range(1, 12))
    assert_sequences_sort_like_numbers(events)  # "…09" before "…10" as strings too
    assert all(e["_msg_id"] == e["id"] for e in events)
    assert events[0]["_subject"] == "lupa.audit.consent.test.written"


async def test_a_relay_killed_mid_delivery_resumes_and_nothing_is_lost_or_doubled(
    scratch_url, scratch_engine, keys_file, nats_server
):
    total = 3000
    await bulk_insert(scratch_engine, total)
    first = _relay_process(scratch_url, nats_server.url, keys_file)
    try:
        deadline = time.monotonic() + 60
        while await stream_count(nats_server.url) < 300 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    delivered_before_kill = await stream_count(nats_server.url)
    assert 0 < delivered_before_kill < total, "the kill did not land mid-delivery"

    second = _relay_process(scratch_url, nats_server.url, keys_file, "--once")
    assert await asyncio.to_thread(second.wait, 60) == 0
    events = await read_all(nats_server.url, total)
    assert [int(e["sequence"]) for e in events] == list(range(1, total + 1))
    assert len({e["id"] for e in events}) == total


async def test_writes_go_on_while_nats_is_down_and_delivery_resumes(
    scratch_engine, keyring, nats_server
):
    nats_server.stop()
    relay = Relay(scratch_engine, keyring, AuditSettings(nats_url=nats_server.url), ["consent"])
    for n in range(20):
        await write_event(scratch_engine, n)  # the outbox takes them: nothing waits on NATS
    await relay.step("consent")
    nats_server.start()
    deadline = time.monotonic() + 30
    while await stream_count(nats_server.url) < 20 and time.monotonic() < deadline:
        await relay.step("consent")
    await relay.close()
    events = await read_all(nats_server.url, 20)
    assert [e["data"]["n"] for e in events] == list(range(20))


async def event_ids(engine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT event_id FROM audit_events ORDER BY id"))
        return [str(r) for r in rows.scalars()]


def refuse_once(monkeypatch, msg_id: str) -> list[str]:
    """JetStream rejects the first publish of ``msg_id`` (as when it names another stream),
    while the messages after it would be accepted."""
    refused: list[str] = []

    def wrap(publish):
        async def publish_refusing(self, subject, payload=b"", *args, **kwargs):
            headers = kwargs.get("headers") or {}
            if headers.get("Nats-Msg-Id") == msg_id and not refused:
                refused.append(msg_id)
                kwargs["stream"] = "NOT_LUPA_AUDIT"
            return await publish(self, subject, payload, *args, **kwargs)

        return publish_refusing

    for name in ("publish", "publish_async"):
        monkeypatch.setattr(JetStreamContext, name, wrap(getattr(JetStreamContext, name)))
    return refused


async def test_an_event_refused_once_is_resent_in_its_place_not_after_later_ones(
    scratch_engine, keyring, nats_server, monkeypatch
):
    for n in range(10):
        await write_event(scratch_engine, n)
    refused = refuse_once(monkeypatch, (await event_ids(scratch_engine))[2])
    relay = Relay(scratch_engine, keyring, AuditSettings(nats_url=nats_server.url), ["consent"])
    await relay.drain("consent")
    await relay.close()
    assert refused, "the failure was not injected"
    events = await read_all(nats_server.url, 10)
    assert [int(e["sequence"]) for e in events] == list(range(1, 11))


async def test_signed_checkpoints_reach_nats_after_the_events_they_sign(
    scratch_engine, keyring, nats_server
):
    for n in range(12):
        await write_event(scratch_engine, n)
    settings = AuditSettings(nats_url=nats_server.url, checkpoint_every=5, checkpoint_seconds=3600)
    relay = Relay(scratch_engine, keyring, settings, ["consent"])
    await relay.drain("consent")
    await relay.drain("consent")  # nothing new: nothing sent twice
    await relay.close()
    events = {int(e["sequence"]): e for e in await read_all(nats_server.url, 12)}
    messages = await read_checkpoints(nats_server.url, 12, 2)
    assert [m["type"] for m in messages] == ["fi.lupa.audit.checkpoint"] * 2
    assert all(m["source"] == "/lupa/consent" and "sequence" not in m for m in messages)
    checkpoints = [m["data"] for m in messages]  # the line `lupa audit verify` reads back
    assert [c["sequence"] for c in checkpoints] == [5, 10]
    for message, checkpoint in zip(messages, checkpoints, strict=True):
        claims = verify_claims(keyring, checkpoint["token"], CHECKPOINT_TOKEN)
        assert claims["seq"] == checkpoint["sequence"]
        assert claims["head"] == checkpoint["head"] == events[checkpoint["sequence"]]["hash"]
        assert message["_subject"] == "lupa.audit.consent.checkpoint"
        assert message["_msg_id"] == message["id"]
    assert len({m["id"] for m in messages}) == 2


async def test_two_deployments_on_one_stream_keep_each_others_checkpoints(
    server_dsn, scratch_engine, keyring, nats_server
):
    """Same service, same sequences, one stream: neither's checkpoint is taken for a re-send
    of the other's (JetStream de-duplicates by Nats-Msg-Id)."""
    settings = AuditSettings(nats_url=nats_server.url, checkpoint_every=5, checkpoint_seconds=3600)
    async with migrated_database(server_dsn, "lupa_audit_other") as other_url:
        other = create_engine(DatabaseSettings(url=sqlalchemy_url(other_url)))
        try:
            for engine in (scratch_engine, other):
                for n in range(5):
                    await write_event(engine, n)
                relay = Relay(engine, keyring, settings, ["consent"])
                await relay.drain("consent")
                await relay.close()
        finally:
            await other.dispose()
    messages = await read_checkpoints(nats_server.url, 10, 2)
    assert [m["data"]["sequence"] for m in messages] == [5, 5]
    assert messages[0]["data"]["head"] != messages[1]["data"]["head"]
    assert await stream_count(nats_server.url, checkpoints=True) == 2
