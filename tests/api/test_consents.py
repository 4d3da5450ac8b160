"""Granting, withdrawing and reading consent over HTTP."""

from __future__ import annotations

from tests.ledger_helpers import make_subject, post_consent, scene


async def test_grant_is_recorded_with_evidence_and_state_shows_granted(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    resp = await post_consent(consent, auth, ext, key, source="portal", page="signup-form")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["event"]["action"] == "grant" and body["event"]["state"] == "granted"
    assert body["event"]["purpose_version"] == 1 and body["event"]["page"] == "signup-form"
    assert body["event"]["collection_method"] == "web_form"
    assert body["state"]["state"] == "granted"
    assert body["receipt"]["jws"].count(".") == 2
    assert "notice" not in body
    states = (await consent.get(f"/v1/subjects/{ext}/consents", headers=auth("cx"))).json()
    assert [(s["purpose"], s["channel"], s["state"]) for s in states] == [(key, "email", "granted")]


async def test_withdrawal_reason_is_shown_to_officer_but_not_to_cx(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    await post_consent(consent, auth, ext, key)
    withdrawn = await post_consent(
        consent, auth, ext, key, "withdraw", role="portal", reason="Too many mails"
    )
    assert withdrawn.status_code == 201, withdrawn.text
    assert withdrawn.json()["state"]["state"] == "withdrawn"
    assert "Too many mails" not in withdrawn.text
    officer = (
        await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("officer"))
    ).json()
    assert [e["action"] for e in officer] == ["grant", "withdraw"]
    assert officer[1]["reason"] == "Too many mails" and officer[1]["source"] == "portal"
    cx = (await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("cx"))).json()
    assert cx[1]["reason"] is None


async def test_withdrawing_what_was_never_granted_is_recorded_with_a_notice(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    resp = await post_consent(consent, auth, ext, key, "withdraw")
    assert resp.status_code == 201
    assert "Nothing was granted" in resp.json()["notice"]
    history = (
        await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("admin"))
    ).json()
    assert [e["action"] for e in history] == ["withdraw"]


async def test_channel_the_purpose_does_not_use_is_refused(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    resp = await post_consent(consent, auth, ext, key, channel="post")
    assert resp.status_code == 422
    assert resp.json()["type"] == "urn:lupa:problem:channel-not-allowed"
    assert (
        await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("admin"))
    ).json() == []


async def test_unknown_purpose_and_unknown_subject_are_clear_problems(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    unknown_purpose = await post_consent(consent, auth, ext, new_id("nope"))
    assert unknown_purpose.json()["type"] == "urn:lupa:problem:unknown-purpose"
    unknown_subject = await post_consent(consent, auth, new_id("ghost"), key)
    assert unknown_subject.status_code == 404


async def test_purpose_not_based_on_consent_cannot_be_granted(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id, legal_basis="contract")
    resp = await post_consent(consent, auth, ext, key)
    assert resp.status_code == 422
    assert resp.json()["type"] == "urn:lupa:problem:not-consent-based"


async def test_portal_token_cannot_touch_another_subject(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    resp = await consent.post(
        f"/v1/subjects/{ext}/consents",
        json={"purpose": key, "channel": "email", "action": "grant"},
        headers=auth("portal", "someone-else"),
    )
    assert resp.status_code == 403
    assert (
        await consent.get(f"/v1/subjects/{ext}/consents", headers=auth("portal", "someone-else"))
    ).status_code == 403


async def test_child_needs_a_guardian_for_a_purpose_with_minimum_age(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id, min_age=13)
    await make_subject(consent, auth, ext, birth_date="2020-05-01")
    alone = await post_consent(consent, auth, ext, key)
    assert alone.status_code == 422
    assert alone.json()["type"] == "urn:lupa:problem:guardian-required"
    with_guardian = await post_consent(consent, auth, ext, key, given_by="guardian")
    assert with_guardian.status_code == 201
    assert with_guardian.json()["event"]["given_by"] == "guardian"


async def test_bad_input_is_a_problem_never_a_500(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    bad_bodies = [
        {"purpose": key, "channel": "pigeon", "action": "grant"},
        {"purpose": key, "channel": "email", "action": "maybe"},
        {"purpose": key, "channel": "email", "action": "withdraw", "reason": "x" * 501},
        {"purpose": key, "channel": "email", "action": "grant", "reason": "why"},
        {"purpose": key, "channel": "email", "action": "grant", "extra": 1},
        {"purpose": "UPPER", "channel": "email", "action": "grant"},
        {"purpose": key, "channel": "email", "action": "grant", "page": "a b"},
        [1, 2],
    ]
    for body in bad_bodies:
        resp = await consent.post(f"/v1/subjects/{ext}/consents", json=body, headers=auth("admin"))
        assert resp.status_code == 422, (body, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
    assert (
        await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("admin"))
    ).json() == []


async def test_marketing_cannot_record_consent(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    assert (await post_consent(consent, auth, ext, key, role="marketing")).status_code == 403
