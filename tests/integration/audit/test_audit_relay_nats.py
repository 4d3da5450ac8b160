"""The relay to NATS JetStream: in order, at least once, surviving a SIGKILL and a NATS outage."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

from shared.audit.config import AuditSettings
from shared.audit.relay import Relay
from tests.integration.audit.events import bulk_insert, write_event
from tests.integration.audit.nats_reader import read_all, stream_count

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
        [sys.executable, "-m", "shared.cli.main", "relay", "--service", "consent", *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_events_reach_nats_in_order_with_subjects_and_ids(
    scratch_engine, keyring, nats_server
):
    for n in range(5):
        await write_event(scratch_engine, n)
    relay = Relay(scratch_engine, keyring, AuditSettings(nats_url=nats_server.url), ["consent"])
    await relay.drain("consent")
    await relay.close()
    events = await read_all(nats_server.url, 5)
    assert [e["sequence"] for e in events] == [1, 2, 3, 4, 5]
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
    assert [e["sequence"] for e in events] == list(range(1, total + 1))
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
