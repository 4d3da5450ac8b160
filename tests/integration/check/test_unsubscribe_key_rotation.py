"""After ``lupa keys rotate --signing``, links minted with the new key work in running services.

Links are minted wherever senders run (the CLI, another replica) and clicked in any process,
which may have loaded the keyring before the rotation and not been restarted since.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from dataclasses import replace

import pytest
from litestar.testing import AsyncTestClient

from lupa.cli.main import main
from services.consent.app import create_app
from shared.auth.tokens import issue_access_token
from shared.keys import load_keyring
from tests.ledger_helpers import make_purpose, make_subject, post_consent

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def lupa(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(argv)) == 0
    return out.getvalue().strip()


async def test_a_link_signed_by_a_key_rotated_in_after_start_up_unsubscribes(
    consent_settings, database_url, new_id, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "keyring.json"
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LUPA_KEYS_FILE", str(path))
    monkeypatch.setenv("LUPA_CONSENT_PUBLIC_URL", "http://testserver.local")
    monkeypatch.delenv("LUPA_KEYRING", raising=False)
    started_with = load_keyring(path)  # what the service reads at start-up

    def auth(role: str, subject: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_access_token(started_with, role, subject, 600)}"}

    app = create_app(replace(consent_settings, keys_path=path))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        key, ext = new_id("rot"), new_id("cust")
        await make_purpose(client, auth, key)
        await make_subject(client, auth, ext)
        assert (await post_consent(client, auth, ext, key)).status_code == 201

        await asyncio.to_thread(lupa, "keys", "rotate", "--signing")
        url = await asyncio.to_thread(
            lupa, "link", "unsubscribe", "--subject", ext, "--purpose", key, "--channel", "email"
        )
        assert load_keyring(path).active_signing.kid != started_with.active_signing.kid

        link = url.removeprefix("http://testserver.local")
        page = await client.get(link)
        assert page.status_code == 200, page.text
        resp = await client.post(link, data=ONE_CLICK)
        assert resp.status_code == 200, resp.text
        checked = await client.get(
            "/v1/check",
            params={"subject": ext, "purpose": key, "channel": "email"},
            headers=auth("marketing"),
        )
        assert checked.json()["reasons"] == ["withdrawn"]
