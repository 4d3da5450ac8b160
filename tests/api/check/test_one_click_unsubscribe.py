"""One-click unsubscribe (RFC 8058): valid, forged, replayed, other-subject and expired links."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.consent.service.consents import CONFIRM_LINK
from services.consent.service.unsubscribe import UnsubscribeLink, mint_token
from shared.auth.tokens import sign_claims
from shared.keys import b64u, unb64u
from tests.api.check.helpers import check, granted
from tests.ledger_helpers import make_subject, post_consent

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


async def mint(consent, auth, key: str, subjects: list[str]) -> list[dict]:
    resp = await consent.post(
        "/v1/unsubscribe-links",
        json={"purpose": key, "channel": "email", "subjects": subjects},
        headers=auth("marketing"),
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["links"]


def path_of(url: str) -> str:
    return url.removeprefix("http://testserver.local")


async def test_a_one_click_post_withdraws_at_once_without_login(consent, auth, new_id):
    key, ext, _ = await granted(consent, auth, new_id)
    [link] = await mint(consent, auth, key, [ext])
    assert link["list_unsubscribe_post"] == "List-Unsubscribe=One-Click"
    assert link["list_unsubscribe"] == f"<{link['url']}>"  # the header value, ready to paste
    page = await consent.get(path_of(link["url"]))
    assert page.status_code == 200 and "Unsubscribe" in page.text
    assert (await check(consent, auth, ext, key))["allowed"] is True  # GET changed nothing
    resp = await consent.post(path_of(link["url"]), data=ONE_CLICK)
    assert resp.status_code == 200
    assert (await check(consent, auth, ext, key))["reasons"] == ["withdrawn"]
    history = await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("admin"))
    last = history.json()[-1]
    assert (last["action"], last["source"], last["collection_method"]) == (
        "withdraw",
        "one_click_unsubscribe",
        "one_click",
    )


async def test_multipart_one_click_is_honoured_too(consent, auth, new_id):
    key, ext, _ = await granted(consent, auth, new_id)
    [link] = await mint(consent, auth, key, [ext])
    resp = await consent.post(path_of(link["url"]), files={"List-Unsubscribe": (None, "One-Click")})
    assert resp.status_code == 200, resp.text
    assert (await check(consent, auth, ext, key))["allowed"] is False


async def test_a_replayed_post_records_nothing_new(consent, auth, new_id):
    key, ext, _ = await granted(consent, auth, new_id)
    [link] = await mint(consent, auth, key, [ext])
    for _ in range(3):
        assert (await consent.post(path_of(link["url"]), data=ONE_CLICK)).status_code == 200
    history = await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("admin"))
    assert [e["action"] for e in history.json()] == ["grant", "withdraw"]


async def test_a_forged_or_retargeted_token_is_refused(consent, auth, new_id, keyring):
    key, ext, _ = await granted(consent, auth, new_id)
    other = new_id("cust")
    await make_subject(consent, auth, other)
    await post_consent(consent, auth, other, key)
    [link] = await mint(consent, auth, key, [ext])
    header, payload, signature = path_of(link["url"]).rsplit("/", 1)[1].split(".")
    import json

    claims = json.loads(unb64u(payload))
    other_id = (await consent.get(f"/v1/subjects/{other}", headers=auth("admin"))).json()["id"]
    claims["sub"] = other_id  # the same signature over another subject
    forged = ".".join([header, b64u(json.dumps(claims).encode()), signature])
    resp = await consent.post(f"/v1/unsubscribe/{forged}", data=ONE_CLICK)
    assert resp.status_code == 400 and resp.json()["type"] == "urn:lupa:problem:invalid-link"
    garbage = await consent.post("/v1/unsubscribe/not-a-token", data=ONE_CLICK)
    assert garbage.status_code == 400
    assert (await check(consent, auth, other, key))["allowed"] is True
    assert (await check(consent, auth, ext, key))["allowed"] is True


async def test_a_token_for_another_use_or_without_one_click_body_is_refused(
    consent, auth, new_id, keyring
):
    key, ext, _ = await granted(consent, auth, new_id)
    [link] = await mint(consent, auth, key, [ext])
    assert (await consent.post(path_of(link["url"]), data={"x": "y"})).status_code == 422
    confirm = sign_claims(
        keyring,
        {"sub": str(uuid.uuid4()), "purpose": key, "channel": "email", "iat": 0},
        CONFIRM_LINK,
    )
    assert (await consent.post(f"/v1/unsubscribe/{confirm}", data=ONE_CLICK)).status_code == 400
    assert (await check(consent, auth, ext, key))["allowed"] is True


async def test_an_expired_link_is_refused_with_410(consent, auth, new_id, keyring):
    key, ext, _ = await granted(consent, auth, new_id)
    subject_id = (await consent.get(f"/v1/subjects/{ext}", headers=auth("admin"))).json()["id"]
    long_ago = datetime.now(UTC) - timedelta(days=400)
    token = mint_token(keyring, UnsubscribeLink(uuid.UUID(subject_id), key, "email"), long_ago)
    resp = await consent.post(f"/v1/unsubscribe/{token}", data=ONE_CLICK)
    assert resp.status_code == 410 and resp.json()["type"] == "urn:lupa:problem:link-expired"
    assert (await check(consent, auth, ext, key))["allowed"] is True


async def test_bulk_minting_keeps_order_and_marks_unknown_subjects(consent, auth, new_id):
    key, ext, _ = await granted(consent, auth, new_id)
    ghost = new_id("ghost")
    links = await mint(consent, auth, key, [ghost, ext])
    assert [link["subject"] for link in links] == [ghost, ext]
    assert links[0]["url"] is None and links[1]["url"].startswith("http://testserver.local/v1/")
    denied = await consent.post(
        "/v1/unsubscribe-links",
        json={"purpose": key, "channel": "email", "subjects": [ext]},
        headers=auth("portal", ext),
    )
    assert denied.status_code == 403


async def test_links_for_an_unknown_purpose_or_a_channel_it_does_not_use_are_refused(
    consent, auth, new_id
):
    key, ext, _ = await granted(consent, auth, new_id)  # a purpose on email and sms
    for body, problem in (
        ({"purpose": new_id("nope"), "channel": "email"}, "unknown-purpose"),
        ({"purpose": key, "channel": "push"}, "channel-not-allowed"),
    ):
        resp = await consent.post(
            "/v1/unsubscribe-links", json={**body, "subjects": [ext]}, headers=auth("marketing")
        )
        assert resp.status_code == 422, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["type"] == f"urn:lupa:problem:{problem}"
    assert resp.json()["channels"] == ["email", "sms"]
