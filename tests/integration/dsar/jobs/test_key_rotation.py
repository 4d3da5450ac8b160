"""Key rotation covers the DSAR service: a connector registered over the API keeps the secret
it was given across ``lupa keys rotate`` and ``retire`` (the worker's jobs still verify against
it, judged by the ``standardwebhooks`` package), requests made before the rotation stay
readable, and an old KEK is not retired while a connector secret still needs it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lupa.cli.main import main
from lupa.key_rotation import KeyRotation, RotationRefused, retire_kek, rotate_kek
from services.dsar.app import create_app
from services.dsar.service.connector_secrets import open_secret
from shared.audit.webhooks import new_secret
from shared.auth.tokens import issue_access_token
from shared.keys import Keyring, load_keyring, save_keyring
from shared.settings import DatabaseSettings, HttpSettings, Settings, sqlalchemy_url
from tests.integration.dsar.jobs.conftest import Scene
from tests.integration.dsar.jobs.connector import Connector


@pytest.fixture
def keys_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A keyring in a file, as in production: running processes see a rotation saved to it."""
    monkeypatch.delenv("LUPA_KEYRING", raising=False)
    path = tmp_path / "keys" / "keyring.json"
    load_keyring(path)
    return path


@pytest.fixture
def file_keyring(keys_file: Path) -> Keyring:
    return load_keyring(keys_file)


@pytest.fixture
async def dsar_api(
    jobs_url: str, file_keyring: Keyring
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    settings = Settings(
        service="dsar",
        database=DatabaseSettings(url=sqlalchemy_url(jobs_url), pool_size=3),
        http=HttpSettings(port=8001, public_base_url="http://dsar.test"),
        keys_path=Path("/nonexistent/keyring.json"),
        log_level="WARNING",
    )
    app = create_app(settings, keyring=file_keyring)
    async with AsyncTestClient(app=app, base_url="http://dsar.test") as client:
        yield client


@pytest.fixture
def file_scene(
    sessions: async_sessionmaker[AsyncSession], file_keyring: Keyring, jobs_url: str
) -> Scene:
    return Scene(sessions, file_keyring, jobs_url)


async def register(api: AsyncTestClient[Litestar], keyring: Keyring, name: str, url: str) -> str:
    """Connector ``name`` registered by an admin over the API; returns the secret it was given."""
    secret = new_secret()
    headers = {"Authorization": f"Bearer {issue_access_token(keyring, 'admin', None, 600)}"}
    body = {"url": url, "secret": secret, "actions": ["access", "erasure"]}
    resp = await api.put(f"/v1/connectors/{name}", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    return secret


async def connector_row(sessions: async_sessionmaker[AsyncSession], name: str) -> Any:
    async with sessions() as s:
        query = "SELECT kek_id, secret_ct, updated_at FROM dsar_connectors WHERE name = :n"
        return (await s.execute(text(query), {"n": name})).one()


async def test_rotation_reseals_connector_secrets_and_jobs_still_verify_after_retire(
    file_scene, dsar_api, sessions, keys_file
):
    scene = file_scene
    old = Keyring.from_json(keys_file.read_text())
    async with Connector() as conn:
        secret = await register(dsar_api, scene.keyring, "crm", conn.url)
        before = await connector_row(sessions, "crm")
        assert before.kek_id == old.active_kek_id
        rid = await scene.request("access")  # its data key is wrapped by the old KEK too

        rotated, report = await rotate_kek(
            sessions, old, lambda k: save_keyring(keys_file, k), batch_size=1
        )
        assert report is not None
        assert report.sealed_resealed == {"connector_secrets": 1}
        assert report.sealed_remaining == {"connector_secrets": 0}
        assert report.rewrapped == 1 and report.remaining == 0  # the request's data key
        after = await connector_row(sessions, "crm")
        assert after.kek_id == rotated.active_kek_id != old.active_kek_id
        assert after.secret_ct != before.secret_ct
        assert after.updated_at == before.updated_at  # not an admin's change
        assert open_secret(rotated, "crm", after.kek_id, after.secret_ct) == secret

        retired = await retire_kek(
            sessions, rotated, old.active_kek_id, lambda k: save_keyring(keys_file, k)
        )
        assert old.active_kek_id not in retired.keks
        async with scene.worker():  # holds the keyring loaded before the rotation, as a
            # running worker would; it re-reads the file on meeting the new KEK id

            async def completed() -> bool:
                return (await scene.request_row(rid)).status == "completed"

            await scene.until(completed)
    job = await scene.job(rid)
    assert job.status == "done"
    [call] = conn.calls_of(str(job.id))
    standardwebhooks.Webhook(secret).verify(call.body, call.headers)  # raises if not signed
    async with sessions() as s:
        events = (
            await s.execute(
                text("SELECT type, data FROM audit_events WHERE data->>'kek' = :k ORDER BY id"),
                {"k": rotated.active_kek_id},
            )
        ).all()
    kinds = [(e.type, e.data.get("count")) for e in events]
    assert ("fi.lupa.dsar.keys.connector_secrets_rewrapped", 1) in kinds
    assert ("fi.lupa.dsar.keys.rewrapped", 1) in kinds


async def test_retire_is_refused_while_a_connector_secret_is_sealed_by_the_old_kek(
    file_scene, dsar_api, sessions, keys_file, jobs_url, monkeypatch, capsys
):
    old = Keyring.from_json(keys_file.read_text())
    save = lambda k: save_keyring(keys_file, k)  # noqa: E731
    await register(dsar_api, file_scene.keyring, "shop.orders", "http://127.0.0.1:9/dsar")
    await register(dsar_api, file_scene.keyring, "crm", "http://127.0.0.1:9/dsar")
    rotated, report = await rotate_kek(sessions, old, save, rewrap=False)
    assert report is None
    with pytest.raises(RotationRefused, match="2 connector secret"):
        await retire_kek(sessions, rotated, old.active_kek_id, save)
    assert old.active_kek_id in Keyring.from_json(keys_file.read_text()).keks

    monkeypatch.setenv("DATABASE_URL", jobs_url)
    monkeypatch.setenv("LUPA_KEYS_FILE", str(keys_file))
    await _run_cli(["keys", "show"])
    shown = capsys.readouterr().out
    counts = shown.split("connector secrets sealed by each KEK:\n")[1]
    assert f"  {old.active_kek_id}: 2\n" in counts
    assert f"  {rotated.active_kek_id}: 0" in counts
    with pytest.raises(SystemExit, match="2 connector secret"):
        await _run_cli(["keys", "retire", old.active_kek_id])

    report = await KeyRotation(sessions, rotated, batch_size=1).rewrap()
    assert report.sealed_resealed == {"connector_secrets": 2}
    for name in ("crm", "shop.orders"):
        assert (await connector_row(sessions, name)).kek_id == rotated.active_kek_id
    async with sessions() as s:
        batches = await s.scalar(
            text("SELECT count(*) FROM audit_events WHERE type = :t AND data->>'kek' = :k"),
            {"t": "fi.lupa.dsar.keys.connector_secrets_rewrapped", "k": rotated.active_kek_id},
        )
    assert batches == 2  # one committed batch per connector at --batch-size 1
    assert await _run_cli(["keys", "retire", old.active_kek_id]) == 0
    assert old.active_kek_id not in Keyring.from_json(keys_file.read_text()).keks


async def _run_cli(argv: list[str]) -> int:
    """``lupa`` in a thread: it runs its own event loop, as from a shell."""
    import asyncio

    return await asyncio.to_thread(main, argv)
