"""The erasure receipt verifies with joserfc against the DSAR service's published JWKS, is of
its own kind, and says per system what was erased, not held, or kept and why."""

from __future__ import annotations

import json

import pytest
from joserfc import jwt

from services.dsar.service.erasure_receipts import erasure_receipt_for
from services.dsar.service.request_keys import RequestKeys
from shared.audit.outbox import AuditEvent, record_event
from shared.errors import Conflict
from tests.integration.dsar.package.seed import seed_request
from tests.jose_judge import Refused, decoded

ISSUER = "http://dsar.testserver.local"
JOBS = [
    ("consent", "done", None, None),
    ("shop", "not_found", None, None),
    ("books", "exempt", "Art. 17(3)(b): Kirjanpitolaki 2:10 keeps receipts 10 years", None),
    ("legacy", "skipped", "system decommissioned in 2025", None),
]


async def _receipt(session_factory, keyring, request_id) -> str:
    async with session_factory() as session:
        return await erasure_receipt_for(session, keyring, request_id, issuer=ISSUER)


async def test_the_receipt_verifies_against_the_published_keys(dsar, session_factory, keyring):
    request_id = await seed_request(session_factory, keyring, JOBS, type_="erasure")
    receipt = await _receipt(session_factory, keyring, request_id)
    jwks = (await dsar.get("/.well-known/jwks.json")).json()
    token = decoded(receipt, jwks)
    assert token.header["typ"] == "erasure-receipt+jwt"
    assert token.header["alg"] == "EdDSA"
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": "urn:lupa:erasure-receipt"},
        jti={"essential": True},
        iat={"essential": True},
    ).validate(token.claims)
    claims = token.claims
    assert claims["request"] == str(request_id)
    assert claims["systems"] == [
        {"name": "books", "result": "kept", "reason": JOBS[2][2]},
        {"name": "consent", "result": "erased"},
        {"name": "legacy", "result": "skipped", "reason": JOBS[3][2]},
        {"name": "shop", "result": "not_held"},
    ]
    assert claims["received_at"] and claims["completed_at"]


async def test_an_altered_receipt_does_not_verify(dsar, session_factory, keyring):
    request_id = await seed_request(session_factory, keyring, JOBS, type_="erasure")
    head, payload, signature = (await _receipt(session_factory, keyring, request_id)).split(".")
    jwks = (await dsar.get("/.well-known/jwks.json")).json()
    with pytest.raises(Refused):
        decoded(f"{head}.{payload[:-2]}AA.{signature}", jwks)


async def test_the_receipt_outlives_the_shredded_key_and_holds_no_personal_data(
    session_factory, keyring
):
    request_id = await seed_request(session_factory, keyring, JOBS, type_="erasure")
    async with session_factory() as session, session.begin():
        await RequestKeys(session, keyring).shred(request_id)
        await record_event(session, AuditEvent("dsar", "test.shredded", str(request_id), {}))
    receipt = await _receipt(session_factory, keyring, request_id)
    claims = decoded(receipt, keyring.newest().jwks()).claims
    assert "@" not in json.dumps(claims)
    assert set(claims) == {
        "iss",
        "aud",
        "typ",
        "jti",
        "iat",
        "format",
        "request",
        "received_at",
        "completed_at",
        "systems",
    }


async def test_only_a_completed_erasure_gets_a_receipt(session_factory, keyring):
    access_id = await seed_request(session_factory, keyring, [], type_="access")
    open_id = await seed_request(
        session_factory, keyring, [], type_="erasure", status="in_progress"
    )
    for request_id in (access_id, open_id):
        with pytest.raises(Conflict):
            await _receipt(session_factory, keyring, request_id)
