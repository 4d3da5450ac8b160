"""A signing-key rotation takes effect in a running service without a restart."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from services.consent.app import create_app
from shared.auth.tokens import issue_access_token
from shared.keys import Keyring, load_keyring, save_keyring


async def test_new_signing_key_is_published_and_accepted_while_old_tokens_still_work(
    consent_settings, tmp_path
):
    from dataclasses import replace

    path = tmp_path / "keyring.json"
    save_keyring(path, Keyring.generate())
    app = create_app(replace(consent_settings, keys_path=path))
    async with AsyncTestClient(app=app) as client:
        old = load_keyring(path)
        old_token = issue_access_token(old, "cx", None, 600)
        save_keyring(path, old.with_new_signing_key())  # what `lupa keys rotate --signing` does
        rotated = load_keyring(path)
        new_token = issue_access_token(rotated, "cx", None, 600)

        kids = [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]
        assert kids == [k.kid for k in rotated.signing] and len(kids) == 2
        for token in (old_token, new_token):
            resp = await client.get("/v1/purposes", headers={"Authorization": f"Bearer {token}"})
            assert resp.status_code == 200, resp.text
