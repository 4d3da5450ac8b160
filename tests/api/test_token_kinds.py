"""Over HTTP, a token is taken only where its kind belongs: a receipt or a signed link is no
bearer token (401 problem), an access token or receipt is no link (400 problem), and what the
API hands out reads, in joserfc with the JWKS it publishes, with each kind's header typ and aud.
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

from benchmarks.signing import legacy_sign
from tests.api.check.helpers import check, granted
from tests.jose_judge import judged
from tests.ledger_helpers import post_consent, scene

ONE_CLICK = {"List-Unsubscribe": "One-Click"}
PROBLEM = "application/problem+json"


async def jwks(consent) -> dict:
    return (await consent.get("/.well-known/jwks.json")).json()


async def a_receipt_and_a_confirm_link(consent, auth, new_id) -> tuple[str, str, str]:
    """(receipt JWS, confirmation token, subject) of a pending double opt-in grant."""
    key, ext = await scene(consent, auth, new_id, double_opt_in_channels=["email"])
    body = (await post_consent(consent, auth, ext, key)).json()
    confirm = urlsplit(body["confirmation_url"]).path.rsplit("/", 1)[1]
    return body["receipt"]["jws"], confirm, ext


async def an_unsubscribe_link(consent, auth, key: str, ext: str) -> str:
    resp = await consent.post(
        "/v1/unsubscribe-links",
        json={"purpose": key, "channel": "email", "subjects": [ext]},
        headers=auth("marketing"),
    )
    return resp.json()["links"][0]["url"].rsplit("/", 1)[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_what_the_api_hands_out_reads_in_joserfc_as_its_kind(consent, auth, new_id, token):
    keys = await jwks(consent)
    receipt, confirm, _ = await a_receipt_and_a_confirm_link(consent, auth, new_id)
    claims = judged(receipt, keys, "consent-receipt+jwt", "urn:lupa:consent-receipt")
    assert claims["typ"] == "consent-receipt" and claims["version"] == "KI-CR-v1.1.0"
    judged(confirm, keys, "confirm-link+jwt", "urn:lupa:link:confirm")
    key, ext, _ = await granted(consent, auth, new_id)
    judged(
        await an_unsubscribe_link(consent, auth, key, ext),
        keys,
        "unsubscribe-link+jwt",
        "urn:lupa:link:unsubscribe",
    )
    judged(token("admin"), keys, "at+jwt", "urn:lupa:consent-api")


async def test_a_receipt_or_a_link_as_a_bearer_token_is_refused_with_401(consent, auth, new_id):
    receipt, confirm, ext = await a_receipt_and_a_confirm_link(consent, auth, new_id)
    key, other, _ = await granted(consent, auth, new_id)
    unsubscribe = await an_unsubscribe_link(consent, auth, key, other)
    for presented in (receipt, confirm, unsubscribe):
        resp = await consent.get(f"/v1/subjects/{ext}", headers=bearer(presented))
        assert resp.status_code == 401 and resp.headers["content-type"].startswith(PROBLEM)
        assert presented not in resp.text
    assert (await consent.get(f"/v1/subjects/{ext}", headers=auth("admin"))).status_code == 200


async def test_an_access_token_signed_the_old_way_is_refused_with_401(
    consent, auth, new_id, keyring
):
    _, ext, _ = await granted(consent, auth, new_id)
    now = int(time.time())
    old = legacy_sign(keyring, {"role": "admin", "iat": now, "exp": now + 600}, "access")
    resp = await consent.get(f"/v1/subjects/{ext}", headers=bearer(old))
    assert resp.status_code == 401 and resp.headers["content-type"].startswith(PROBLEM)


async def test_an_access_token_or_a_receipt_is_no_link(consent, auth, new_id, token):
    receipt, confirm, _ = await a_receipt_and_a_confirm_link(consent, auth, new_id)
    key, ext, _ = await granted(consent, auth, new_id)
    unsubscribe = await an_unsubscribe_link(consent, auth, key, ext)
    for presented in (token("admin"), receipt, confirm):
        resp = await consent.post(f"/v1/unsubscribe/{presented}", data=ONE_CLICK)
        assert resp.status_code == 400 and resp.json()["type"] == "urn:lupa:problem:invalid-link"
    for presented in (token("admin"), receipt, unsubscribe):
        resp = await consent.post(f"/v1/confirm/{presented}")
        assert resp.status_code == 400 and resp.json()["type"] == "urn:lupa:problem:invalid-link"
    assert (await check(consent, auth, ext, key))["allowed"] is True  # nothing was withdrawn


async def test_an_unsubscribe_link_signed_the_old_way_still_unsubscribes(
    consent, auth, new_id, keyring
):
    key, ext, _ = await granted(consent, auth, new_id)
    subject_id = (await consent.get(f"/v1/subjects/{ext}", headers=auth("admin"))).json()["id"]
    now = int(time.time())
    claims = {"sub": str(uuid.UUID(subject_id)), "purpose": key, "channel": "email"}
    old = legacy_sign(keyring, {**claims, "iat": now, "exp": now + 600, "jti": "0a"}, "unsubscribe")
    assert (await consent.post(f"/v1/unsubscribe/{old}", data=ONE_CLICK)).status_code == 200
    assert (await check(consent, auth, ext, key))["allowed"] is False
