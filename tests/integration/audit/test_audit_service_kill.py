"""A consent service killed (SIGKILL) in the middle of ~2,000 concurrent consent writes: every
acknowledged write has exactly one audit event, and no event exists for a write that did not
commit."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import httpx
import pytest
from sqlalchemy import text

from shared.auth.tokens import issue_access_token
from tests.integration.audit.conftest import free_port

pytestmark = pytest.mark.slow
PURPOSE = {"legal_basis": "consent", "title": {"en": "News"}, "channels": ["email"]}
WRITES = 2000
SUBJECTS = 100
CONNECTIONS = 250  # sockets open at once on 127.0.0.1; every other write waits its turn in flight
KILL_AFTER = WRITES // 4


def _serve(url: str, keys_file, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LUPA_KEYS_FILE": str(keys_file),
        "LUPA_HOST": "127.0.0.1",
        "LUPA_CONSENT_PORT": str(port),
        "LUPA_LOG_LEVEL": "ERROR",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "lupa", "serve", "consent"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _wait_live(client: httpx.AsyncClient, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if (await client.get("/health/live")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the consent service did not start")


async def _scene(client: httpx.AsyncClient, headers: dict[str, str], tag: str) -> list[str]:
    """A purpose and ``SUBJECTS`` subjects, written before the load; returns the external ids."""
    put = await client.put(f"/v1/purposes/{tag}", json=PURPOSE, headers=headers)
    assert put.status_code == 201, put.text
    externals = [f"{tag}-{i}" for i in range(SUBJECTS)]
    gate = asyncio.Semaphore(20)

    async def subject(ext: str) -> None:
        async with gate:
            body = {"email": f"{ext}@kill.example"}
            made = await client.put(f"/v1/subjects/{ext}", json=body, headers=headers)
            assert made.status_code == 201, made.text

    await asyncio.gather(*(subject(ext) for ext in externals))
    return externals


def _write(i: int, externals: list[str], tag: str) -> tuple[str, dict[str, str]]:
    """Write ``i``: subjects in turn, each alternating grant and withdraw."""
    action = "grant" if (i // SUBJECTS) % 2 == 0 else "withdraw"
    body = {"purpose": tag, "channel": "email", "action": action, "source": "api"}
    return f"/v1/subjects/{externals[i % SUBJECTS]}/consents", body


async def test_a_killed_service_leaves_one_event_per_acknowledged_write_and_no_orphans(
    scratch_url, scratch_engine, keys_file, keyring
):
    port, tag = free_port(), f"kill-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {issue_access_token(keyring, 'admin', None, 600)}"}
    server = _serve(scratch_url, keys_file, port)
    acked: list[str] = []  # ledger event ids the service answered 201 for
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=30, limits=limits
        ) as client:
            await _wait_live(client, server)
            externals = await _scene(client, headers, tag)

            async def write(i: int) -> None:
                path, body = _write(i, externals, tag)
                try:
                    r = await client.post(path, json=body, headers=headers)
                except httpx.HTTPError:
                    return  # killed under it: not acknowledged
                if r.status_code == 201:
                    acked.append(r.json()["event"]["event_id"])
                    if len(acked) == KILL_AFTER:
                        server.send_signal(signal.SIGKILL)

            await asyncio.gather(*(write(i) for i in range(WRITES)))
    finally:
        server.kill()
        server.wait(timeout=10)
    assert KILL_AFTER <= len(acked) < WRITES, "the kill did not land mid-load"

    committed, events = await _ledger_and_events(scratch_engine, tag)
    per_write = Counter(events)
    assert set(acked) <= committed  # acknowledged means committed
    assert all(per_write[event_id] == 1 for event_id in acked)  # and audited exactly once
    assert set(per_write) == committed and max(per_write.values()) == 1  # no orphan, no double


async def _ledger_and_events(engine, tag: str) -> tuple[set[str], list[str]]:
    async with engine.connect() as conn:
        committed = {
            str(e)
            for e in (
                await conn.execute(
                    text("SELECT event_id FROM consent_events WHERE purpose_key = :p"), {"p": tag}
                )
            ).scalars()
        }
        events = list(
            (
                await conn.execute(
                    text(
                        "SELECT data->>'ledger_event_id' FROM audit_events WHERE type IN "
                        "('fi.lupa.consent.consent.granted', 'fi.lupa.consent.consent.withdrawn') "
                        "AND data->>'purpose' = :p"
                    ),
                    {"p": tag},
                )
            ).scalars()
        )
    return committed, events
