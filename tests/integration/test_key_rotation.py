"""Key rotation on real PostgreSQL: subjects stay readable, data keys move, old KEKs retire safely.

Each test owns a keyring file in tmp and an app loaded from it (as in production), so rotating
touches only the data keys that keyring wrapped, never those of the shared test app.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from lupa.key_rotation import RotationRefused, retire_kek, rotate_kek
from services.consent.app import create_app
from shared.auth.tokens import issue_access_token
from shared.crypto import unwrap_data_key
from shared.keys import Keyring, b64u, load_keyring, save_keyring
from shared.settings import Settings


@dataclasses.dataclass
class Deployment:
    client: AsyncTestClient[Litestar]
    path: Path
    headers: dict[str, str]

    def keyring(self) -> Keyring:
        return Keyring.from_json(self.path.read_text())

    def save(self, keyring: Keyring) -> None:
        save_keyring(self.path, keyring)


@pytest.fixture
async def deployment(consent_settings: Settings, tmp_path: Path) -> AsyncIterator[Deployment]:
    """A consent app whose keyring lives in a file, held in memory like a running service."""
    path = tmp_path / "keys" / "keyring.json"
    keyring = load_keyring(path)
    app = create_app(dataclasses.replace(consent_settings, keys_path=path))
    headers = {"Authorization": f"Bearer {issue_access_token(keyring, 'admin', None, 600)}"}
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield Deployment(client, path, headers)


async def create_subjects(dep: Deployment, new_id: Any, n: int) -> dict[str, str]:
    """``n`` subjects via HTTP; returns external id -> email."""
    made = {}
    for _ in range(n):
        ext = new_id("rot")
        resp = await dep.client.put(
            f"/v1/subjects/{ext}",
            json={"email": f"{ext}@rot.example", "name": "Rotated Person"},
            headers=dep.headers,
        )
        assert resp.status_code == 201, resp.text
        made[ext] = f"{ext}@rot.example"
    return made


async def key_rows(session_factory: Any, externals: list[str]) -> list[dict[str, Any]]:
    async with session_factory() as s:
        rows = await s.execute(
            text(
                "SELECT k.subject_id, k.kek_id, k.wrapped_dek, k.rewrapped_at FROM subject_keys k "
                "JOIN subjects s ON s.id = k.subject_id WHERE s.external_id = ANY(:e)"
            ),
            {"e": externals},
        )
        return [dict(r) for r in rows.mappings().all()]


async def test_old_subjects_stay_readable_after_rotation(deployment, session_factory, new_id):
    subjects = await create_subjects(deployment, new_id, 3)
    before = deployment.keyring()
    rotated, report = await rotate_kek(session_factory, before, deployment.save)
    assert report is not None and report.rewrapped == 3 and report.remaining == 0
    # The running app still holds the old keyring: it must pick up the new KEK from the file.
    for ext, email in subjects.items():
        got = await deployment.client.get(f"/v1/subjects/{ext}", headers=deployment.headers)
        assert got.status_code == 200, got.text
        assert got.json()["email"] == email
    rows = await key_rows(session_factory, list(subjects))
    assert {r["kek_id"] for r in rows} == {rotated.active_kek_id} != {before.active_kek_id}
    assert all(r["rewrapped_at"] is not None for r in rows)


async def test_subjects_created_after_rotation_use_the_new_key(deployment, session_factory, new_id):
    await create_subjects(deployment, new_id, 1)
    rotated, _ = await rotate_kek(session_factory, deployment.keyring(), deployment.save)
    fresh = await create_subjects(deployment, new_id, 2)
    rows = await key_rows(session_factory, list(fresh))
    assert {r["kek_id"] for r in rows} == {rotated.active_kek_id}


async def test_rewrap_runs_in_batches_each_with_an_audit_event(deployment, session_factory, new_id):
    subjects = await create_subjects(deployment, new_id, 5)
    rotated, report = await rotate_kek(
        session_factory, deployment.keyring(), deployment.save, batch_size=2
    )
    assert report is not None and (report.rewrapped, report.batches) == (5, 3)
    async with session_factory() as s:
        events = (
            (
                await s.execute(
                    text(
                        "SELECT type, subject, data FROM audit_events"
                        " WHERE data->>'kek' = :k ORDER BY id"
                    ),
                    {"k": rotated.active_kek_id},
                )
            )
            .mappings()
            .all()
        )
    types = [e["type"] for e in events]
    assert types.count("fi.lupa.consent.keys.rotated") == 1
    assert [e["data"]["count"] for e in events if e["type"].endswith("keys.rewrapped")] == [2, 2, 1]
    assert all(e["subject"] is None for e in events)
    assert not any(email in str(e["data"]) for e in events for email in subjects.values())


async def test_retire_refuses_while_a_key_is_in_use_and_succeeds_after(
    deployment, session_factory, new_id
):
    subjects = await create_subjects(deployment, new_id, 2)
    old = deployment.keyring()
    rotated, report = await rotate_kek(session_factory, old, deployment.save, rewrap=False)
    assert report is None
    with pytest.raises(RotationRefused, match="still wraps 2"):
        await retire_kek(session_factory, rotated, old.active_kek_id, deployment.save)
    with pytest.raises(RotationRefused, match="active"):
        await retire_kek(session_factory, rotated, rotated.active_kek_id, deployment.save)
    assert old.active_kek_id in deployment.keyring().keks  # a refusal changes nothing

    from lupa.key_rotation import KeyRotation

    assert (await KeyRotation(session_factory, rotated).rewrap()).rewrapped == 2
    retired = await retire_kek(session_factory, rotated, old.active_kek_id, deployment.save)
    assert old.active_kek_id not in retired.keks
    assert old.active_kek_id not in deployment.keyring().keks
    for ext in subjects:
        got = await deployment.client.get(f"/v1/subjects/{ext}", headers=deployment.headers)
        assert got.status_code == 200, got.text


async def test_the_keyring_file_never_contains_a_data_key(deployment, session_factory, new_id):
    subjects = await create_subjects(deployment, new_id, 3)
    rotated, _ = await rotate_kek(session_factory, deployment.keyring(), deployment.save)
    stored = deployment.path.read_bytes()
    for row in await key_rows(session_factory, list(subjects)):
        dek = unwrap_data_key(rotated.kek(row["kek_id"]), row["wrapped_dek"], row["subject_id"])
        for form in (
            dek,
            dek.hex().encode(),
            b64u(dek).encode(),
            base64.b64encode(dek),
            b64u(row["wrapped_dek"]).encode(),
            base64.b64encode(row["wrapped_dek"]),
        ):
            assert form not in stored
    doc = json.loads(stored)
    assert set(doc) == {"signing", "kek", "active_kek", "index", "evidence", "suppression"}
    assert set(doc["kek"]) == set(rotated.keks)


async def test_a_webhook_secret_moves_with_the_kek_and_holds_retirement_until_it_has(
    deployment, session_factory
):
    from lupa.key_rotation import KeyRotation

    hook = await deployment.client.post(
        "/v1/audit/webhooks", json={"url": "http://127.0.0.1:9/rot"}, headers=deployment.headers
    )
    assert hook.status_code == 201, hook.text
    old = deployment.keyring()
    rotated, _ = await rotate_kek(session_factory, old, deployment.save, rewrap=False)
    later = await deployment.client.post(
        "/v1/audit/webhooks", json={"url": "http://127.0.0.1:9/rot2"}, headers=deployment.headers
    )
    assert later.status_code == 201, later.text  # the running app seals with the new KEK
    with pytest.raises(RotationRefused, match="1 webhook secret"):
        await retire_kek(session_factory, rotated, old.active_kek_id, deployment.save)

    report = await KeyRotation(session_factory, rotated).rewrap()
    assert (report.secrets_resealed, report.secrets_remaining) == (1, 0)
    async with session_factory() as s:
        sealed_by = await s.scalar(
            text("SELECT kek_id FROM webhook_subscriptions WHERE id = :id"),
            {"id": hook.json()["id"]},
        )
        events = (
            await s.execute(
                text("SELECT data FROM audit_events WHERE type = :t AND data->>'kek' = :k"),
                {"t": "fi.lupa.consent.keys.webhook_secrets_rewrapped", "k": rotated.active_kek_id},
            )
        ).scalars()
        assert [e["count"] for e in events] == [1]
    assert sealed_by == rotated.active_kek_id
    await retire_kek(session_factory, rotated, old.active_kek_id, deployment.save)
    gone = await deployment.client.delete(
        f"/v1/audit/webhooks/{hook.json()['id']}", headers=deployment.headers
    )
    assert gone.status_code == 204
    gone = await deployment.client.delete(
        f"/v1/audit/webhooks/{later.json()['id']}", headers=deployment.headers
    )
    assert gone.status_code == 204
