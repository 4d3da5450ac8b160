"""Consent receipts: signed, verifiable against the published keys, retrievable again."""

from __future__ import annotations

from tests.jose_judge import judged
from tests.ledger_helpers import post_consent, scene


async def _verify(consent, jws: str) -> dict:
    """The receipt's claims as joserfc reads them with the published keys, once its header
    typ and aud say it is a consent receipt."""
    keys = (await consent.get("/.well-known/jwks.json")).json()
    return judged(jws, keys, "consent-receipt+jwt", "urn:lupa:consent-receipt")


async def test_receipt_verifies_against_the_jwks_and_carries_the_27560_fields(
    consent, auth, new_id
):
    key, ext = await scene(consent, auth, new_id, validity_days=395)
    granted = (await post_consent(consent, auth, ext, key)).json()
    claims = await _verify(consent, granted["receipt"]["jws"])
    assert claims["typ"] == "consent-receipt"
    assert claims["version"] == "KI-CR-v1.1.0" and claims["jurisdiction"] == "FI"
    assert claims["consentReceiptID"] == granted["receipt"]["id"]
    assert claims["collectionMethod"] == "api" and claims["language"] == "en"
    assert claims["piiControllers"][0]["piiController"]
    assert claims["policyUrl"].startswith("http")
    purpose = claims["services"][0]["purposes"][0]
    assert claims["services"][0]["service"] == key
    assert purpose["purposeVersion"] == 1 and purpose["consentType"] == "EXPLICIT"
    assert purpose["legalBasis"] == "GDPR Art. 6(1)(a)" and purpose["termination"].startswith(
        "P395D"
    )
    assert claims["event"]["type"] == "grant" and claims["event"]["state"] == "granted"
    assert claims["withdrawalMethod"]
    assert f"{ext}@example.com" not in str(claims) and ext not in str(claims)


async def test_receipt_can_be_fetched_again_by_its_owner_and_officer(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    receipt = (await post_consent(consent, auth, ext, key, "withdraw")).json()["receipt"]
    for headers in (auth("portal", ext), auth("officer"), auth("admin")):
        again = await consent.get(f"/v1/receipts/{receipt['id']}", headers=headers)
        assert again.status_code == 200, again.text
        assert again.json()["jws"] == receipt["jws"]
    assert (await _verify(consent, receipt["jws"]))["event"]["type"] == "withdraw"


async def test_another_subjects_portal_token_cannot_see_a_receipt(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    receipt = (await post_consent(consent, auth, ext, key)).json()["receipt"]
    other = await consent.get(f"/v1/receipts/{receipt['id']}", headers=auth("portal", "other"))
    assert other.status_code == 404
    assert (
        await consent.get(f"/v1/receipts/{receipt['id']}", headers=auth("cx"))
    ).status_code == 403


async def test_malformed_or_unknown_receipt_id_is_a_problem(consent, auth, new_id):
    # A path that is not a uuid matches no route (the route is /v1/receipts/{receipt_id:uuid}).
    malformed = await consent.get("/v1/receipts/not-a-uuid", headers=auth("admin"))
    assert malformed.status_code == 404
    assert malformed.headers["content-type"].startswith("application/problem+json")
    assert malformed.json()["type"] == "urn:lupa:problem:not-found"
    missing = await consent.get(
        "/v1/receipts/00000000-0000-4000-8000-000000000000", headers=auth("admin")
    )
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["type"] == "urn:lupa:problem:not-found"
