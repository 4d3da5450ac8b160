"""Setting the scene for consent ledger tests: a purpose and a subject, over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from services.consent.db import optimistic

PURPOSE: dict[str, Any] = {
    "legal_basis": "consent",
    "title": {"en": "Newsletter", "fi": "Uutiskirje"},
    "channels": ["email", "sms"],
}


async def make_purpose(consent: Any, auth: Any, key: str, **changes: Any) -> dict[str, Any]:
    resp = await consent.put(
        f"/v1/purposes/{key}", json={**PURPOSE, **changes}, headers=auth("admin")
    )
    assert resp.status_code in (200, 201), resp.text
    return resp.json()  # type: ignore[no-any-return]


async def make_subject(consent: Any, auth: Any, external_id: str, **fields: Any) -> dict[str, Any]:
    body = {"email": f"{external_id}@example.com", **fields}
    resp = await consent.put(f"/v1/subjects/{external_id}", json=body, headers=auth("admin"))
    assert resp.status_code in (200, 201), resp.text
    return resp.json()  # type: ignore[no-any-return]


async def scene(consent: Any, auth: Any, new_id: Any, **purpose: Any) -> tuple[str, str]:
    """A fresh purpose and subject; returns (purpose key, subject external id)."""
    key, ext = new_id("p"), new_id("cust")
    await make_purpose(consent, auth, key, **purpose)
    await make_subject(consent, auth, ext)
    return key, ext


async def post_consent(
    consent: Any,
    auth: Any,
    ext: str,
    key: str,
    action: str = "grant",
    channel: str = "email",
    role: str = "admin",
    **extra: Any,
) -> Any:
    body = {"purpose": key, "channel": channel, "action": action, **extra}
    return await consent.post(
        f"/v1/subjects/{ext}/consents",
        json=body,
        headers=auth(role, ext if role == "portal" else None),
    )


async def until_waiting_for_a_lock(observer: asyncpg.Connection, pid: int) -> None:
    """Return once the backend ``pid`` waits for a lock (5 s at most, else fail)."""
    for _ in range(500):
        wait = await observer.fetchval(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid
        )
        if wait == "Lock":
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited for a lock")


def change_subject_after_read(
    monkeypatch: pytest.MonkeyPatch, database_url: str, external_id: str
) -> None:
    """From now on, every optimistic read of write facts is followed by a change to the
    subject row of ``external_id`` (its locale), so a write decided on that read is stale."""
    read = optimistic.read_many_for_write

    async def read_then_change(session: Any, wanted: Any) -> Any:
        facts = await read(session, wanted)
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(
                "UPDATE subjects SET locale = 'sv' WHERE external_id = $1", external_id
            )
        finally:
            await conn.close()
        return facts

    monkeypatch.setattr(optimistic, "read_many_for_write", read_then_change)
