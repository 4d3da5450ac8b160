"""A service killed mid-load: every acknowledged write has exactly one event, and no event
exists for a write that did not commit."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from sqlalchemy import text

from shared.auth.tokens import issue_access_token
from tests.integration.audit.conftest import free_port

pytestmark = pytest.mark.slow
PURPOSE = {"legal_basis": "consent", "title": {"en": "News"}, "channels": ["email"]}
WRITES = 2000


def _serve(url: str, keys_file, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LUPA_KEYS_FILE": str(keys_file),
        "LUPA_CONSENT_PORT": str(port),
        "LUPA_LOG_LEVEL": "ERROR",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "shared.cli.main", "serve", "consent"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _wait_live(client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if (await client.get("/health/live")).status_code == 200:
                return
        except httpx.HTTPError:
            await asyncio.sleep(0.1)
    raise RuntimeError("the consent service did not start")


async def test_a_killed_service_leaves_one_event_per_acknowledged_write_and_no_orphans(
    scratch_url, scratch_engine, keys_file, keyring
):
    port, prefix = free_port(), f"kill-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {issue_access_token(keyring, 'admin', None, 600)}"}
    server = _serve(scratch_url, keys_file, port)
    acked: list[str] = []
    gate = asyncio.Semaphore(40)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            await _wait_live(client)

            async def write(i: int) -> None:
                async with gate:
                    if server.poll() is not None:
                        return
                    try:
                        r = await client.put(
                            f"/v1/purposes/{prefix}-{i}", json=PURPOSE, headers=headers
                        )
                    except httpx.HTTPError:
                        return
                    if r.status_code == 201:
                        acked.append(f"{prefix}-{i}")
                    if len(acked) == WRITES // 4:
                        server.send_signal(signal.SIGKILL)

            await asyncio.gather(*(write(i) for i in range(WRITES)))
    finally:
        server.kill()
        server.wait(timeout=10)
    assert WRITES // 4 <= len(acked) < WRITES, "the kill did not land mid-load"

    async with scratch_engine.connect() as conn:
        committed = set(
            (
                await conn.execute(
                    text("SELECT key FROM purposes WHERE key LIKE :p"), {"p": prefix + "-%"}
                )
            ).scalars()
        )
        events = list(
            (
                await conn.execute(
                    text(
                        "SELECT data->>'purpose' FROM audit_events WHERE type = "
                        "'fi.lupa.consent.purpose.created' AND data->>'purpose' LIKE :p"
                    ),
                    {"p": prefix + "-%"},
                )
            ).scalars()
        )
    assert set(acked) <= committed
    assert sorted(events) == sorted(committed)  # one event per committed write, no orphans
