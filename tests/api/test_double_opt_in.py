"""Double opt-in: a grant on a double-opt-in channel is pending until its link is confirmed."""

from __future__ import annotations

from urllib.parse import urlsplit

from services.consent.service.consents import CONFIRM_LINK
from shared.auth.kinds import ACCESS_TOKEN
from shared.auth.tokens import sign_claims
from tests.ledger_helpers import post_consent, scene


async def _pending(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id, double_opt_in_channels=["email"])
    granted = await post_consent(consent, auth, ext, key)
    assert granted.status_code == 201, granted.text
    body = granted.json()
    assert body["state"]["state"] == "pending" and body["event"]["state"] == "pending"
    return key, ext, urlsplit(body["confirmation_url"]).path


async def _state(consent, auth, ext):
    return (await consent.get(f"/v1/subjects/{ext}/consents", headers=auth("admin"))).json()[0][
        "state"
    ]


async def test_pending_grant_becomes_consent_once_confirmed(consent, auth, new_id):
    key, ext, path = await _pending(consent, auth, new_id)
    assert await _state(consent, auth, ext) == "pending"
    shown = await consent.get(path)
    assert shown.status_code == 200 and shown.json()["purpose"] == key
    assert shown.json()["awaiting_confirmation"] is True
    assert await _state(consent, auth, ext) == "pending"  # looking changes nothing
    confirmed = await consent.post(path)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["outcome"] == "confirmed" and confirmed.json()["receipt"]["jws"]
    assert await _state(consent, auth, ext) == "granted"


async def test_confirming_twice_records_once(consent, auth, new_id):
    _, ext, path = await _pending(consent, auth, new_id)
    await consent.post(path)
    again = await consent.post(path)
    assert again.status_code == 200 and again.json()["outcome"] == "already_confirmed"
    history = (
        await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("admin"))
    ).json()
    assert [e["action"] for e in history] == ["grant", "confirm"]


async def test_withdrawal_before_confirming_makes_the_link_do_nothing(consent, auth, new_id):
    key, ext, path = await _pending(consent, auth, new_id)
    await post_consent(consent, auth, ext, key, "withdraw")
    late = await consent.post(path)
    assert late.status_code == 410
    assert late.json()["type"] == "urn:lupa:problem:confirmation-superseded"
    assert await _state(consent, auth, ext) == "withdrawn"


async def test_forged_expired_and_foreign_links_are_refused(consent, auth, new_id, keyring):
    assert (await consent.post("/v1/confirm/not-a-token")).status_code == 400
    _, ext, path = await _pending(consent, auth, new_id)
    token = path.rsplit("/", 1)[1]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert (await consent.post(f"/v1/confirm/{forged}")).json()[
        "type"
    ] == "urn:lupa:problem:invalid-link"
    expired = sign_claims(keyring, {"sub": "x", "iat": 1, "exp": 2}, CONFIRM_LINK)
    gone = await consent.post(f"/v1/confirm/{expired}")
    assert gone.status_code == 410 and gone.json()["type"] == "urn:lupa:problem:link-expired"
    access = sign_claims(keyring, {"iat": 1, "role": "admin"}, ACCESS_TOKEN)
    assert (await consent.get(f"/v1/confirm/{access}")).status_code == 400
    assert await _state(consent, auth, ext) == "pending"


async def test_grant_on_a_channel_without_double_opt_in_is_granted_at_once(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id, double_opt_in_channels=["email"])
    body = (await post_consent(consent, auth, ext, key, channel="sms")).json()
    assert body["state"]["state"] == "granted" and "confirmation_url" not in body
