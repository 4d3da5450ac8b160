"""Probes and public keys need no token."""

from __future__ import annotations


async def test_live_and_ready_need_no_token(consent):
    assert (await consent.get("/health/live")).json() == {"status": "ok"}
    ready = await consent.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"


async def test_jwks_publishes_the_signing_key(consent, keyring):
    keys = (await consent.get("/.well-known/jwks.json")).json()["keys"]
    assert [k["kid"] for k in keys] == [keyring.active_signing.kid]
    assert keys[0]["kty"] == "OKP" and keys[0]["crv"] == "Ed25519" and "d" not in keys[0]


async def test_openapi_document_is_served(consent):
    spec = (await consent.get("/schema/openapi.json")).json()
    assert "/v1/purposes" in spec["paths"]
