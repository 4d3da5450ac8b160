"""Probes and public keys need no token."""

from __future__ import annotations

import dataclasses

from litestar.testing import AsyncTestClient

from services.consent.app import create_app
from shared.settings import DatabaseSettings


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


async def test_ready_says_503_while_the_database_is_unreachable(consent_settings, keyring):
    # Nothing listens on port 1 of the loopback: the connection is refused at once.
    nowhere = DatabaseSettings(url="postgresql+asyncpg://postgres@127.0.0.1:1/postgres")
    app = create_app(dataclasses.replace(consent_settings, database=nowhere), keyring=keyring)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        assert (await client.get("/health/live")).status_code == 200
        ready = await client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.headers["content-type"].startswith("application/problem+json")
    problem = ready.json()
    assert problem["type"] == "urn:lupa:problem:unavailable" and problem["status"] == 503
    assert problem["database"] == "unreachable" and problem["instance"] == (
        f"urn:uuid:{ready.headers['x-request-id']}"
    )
