"""A signing-key rotation takes effect in a running service without a restart."""

from __future__ import annotations

import pytest
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


# Lupa's JWS name Ed25519 by the "EdDSA" alg of RFC 8037, which RFC 9864 deprecates.
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
async def test_after_a_signing_rotation_a_running_service_signs_receipts_with_the_new_key(
    consent_settings, tmp_path
):
    from dataclasses import replace

    from joserfc import jws
    from joserfc.jwk import KeySet

    from tests.ledger_helpers import make_purpose, make_subject, post_consent

    path = tmp_path / "keyring.json"
    save_keyring(path, Keyring.generate())
    app = create_app(replace(consent_settings, keys_path=path))
    old = load_keyring(path)
    admin = issue_access_token(old, "admin", None, 600)

    def auth(role: str, subject: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {admin}"}

    async with AsyncTestClient(app=app) as client:
        await make_purpose(client, auth, "rotation-news")
        await make_subject(client, auth, "cust-rotation")

        async def receipt_kid() -> str:
            resp = await post_consent(client, auth, "cust-rotation", "rotation-news")
            assert resp.status_code in (200, 201), resp.text
            published = KeySet.import_key_set((await client.get("/.well-known/jwks.json")).json())
            token = resp.json()["receipt"]["jws"]
            verified = jws.deserialize_compact(token, published, algorithms=["EdDSA"])
            return str(verified.headers()["kid"])

        assert await receipt_kid() == old.active_signing.kid
        save_keyring(path, old.with_new_signing_key())  # what `lupa keys rotate --signing` does
        new = Keyring.from_json(path.read_text()).active_signing.kid
        assert new != old.active_signing.kid
        assert await receipt_kid() == new, "the running service signs with the new key"
        kids = [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]
        assert kids == [old.active_signing.kid, new]
