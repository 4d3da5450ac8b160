"""GET /v1/check over HTTP: yes only with a live grant and nothing else in the way."""

from __future__ import annotations

import asyncpg

from tests.api.check.helpers import check, granted, patch_preferences
from tests.ledger_helpers import make_purpose, make_subject, post_consent, scene


async def test_a_granted_subject_may_be_mailed_with_the_grant_as_evidence(consent, auth, new_id):
    key, ext, event_id = await granted(consent, auth, new_id)
    result = await check(consent, auth, ext, key)
    assert result == {
        "allowed": True,
        "reasons": [],
        "purpose_version": 1,
        "basis": "consent",
        "evidence": event_id,
        "deliver_after": None,
    }


async def test_a_withdrawal_blocks_the_very_next_check(consent, auth, new_id):
    key, ext, _ = await granted(consent, auth, new_id)
    resp = await post_consent(consent, auth, ext, key, action="withdraw")
    assert resp.status_code == 201
    result = await check(consent, auth, ext, key)
    assert result["allowed"] is False and result["reasons"] == ["withdrawn"]
    assert result["evidence"] == resp.json()["event"]["event_id"]


async def test_unknown_subject_and_purpose_are_no(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    assert (await check(consent, auth, new_id("nobody"), key))["reasons"] == ["unknown_subject"]
    assert (await check(consent, auth, ext, new_id("nopurpose")))["reasons"] == ["unknown_purpose"]
    assert (await check(consent, auth, ext, key))["reasons"] == ["never_given"]


async def test_a_channel_the_purpose_does_not_use_is_no(consent, auth, new_id):
    key, ext, _ = await granted(consent, auth, new_id)
    assert "channel_not_in_purpose" in (await check(consent, auth, ext, key, "post"))["reasons"]


async def test_preferences_narrow_a_grant(consent, auth, new_id):
    key, ext, _ = await granted(consent, auth, new_id)
    await patch_preferences(consent, auth, ext, {"topics": {key: ["running"]}})
    assert (await check(consent, auth, ext, key, topic="running"))["allowed"] is True
    assert (await check(consent, auth, ext, key, topic="golf"))["reasons"] == ["topic_unsubscribed"]
    await patch_preferences(
        consent,
        auth,
        ext,
        {
            "channels": {"email": {"enabled": False}},
            "marketing_opt_out": True,
            "paused_until": "2099-01-01T00:00:00Z",
        },
    )
    result = await check(consent, auth, ext, key)
    assert set(result["reasons"]) == {"channel_off", "marketing_opt_out", "paused"}


async def test_quiet_hours_give_a_delivery_time_not_a_no(consent, auth, new_id):
    key, ext, _ = await granted(consent, auth, new_id)
    await patch_preferences(consent, auth, ext, {"channels": {"email": {"frequency": "monthly"}}})
    result = await check(consent, auth, ext, key)
    assert result["allowed"] is True and result["deliver_after"].endswith("01T00:00:00Z")


async def test_a_pending_double_opt_in_is_no(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id, double_opt_in_channels=["email"])
    assert (await post_consent(consent, auth, ext, key)).status_code == 201
    assert (await check(consent, auth, ext, key))["reasons"] == ["pending"]


async def test_restriction_and_objection_stop_marketing(consent, auth, new_id, database_url):
    key, ext, _ = await granted(consent, auth, new_id)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE subjects SET restricted_at = now(), objected_at = now() WHERE external_id = $1",
            ext,
        )
    finally:
        await conn.close()
    assert set((await check(consent, auth, ext, key))["reasons"]) == {"restricted", "objected"}


async def test_minimum_age_reads_the_sealed_birth_date(consent, auth, new_id):
    key = new_id("kids")
    await make_purpose(consent, auth, key, min_age=16)
    adult, child, unknown = new_id("adult"), new_id("child"), new_id("nobirth")
    await make_subject(consent, auth, adult, birth_date="1990-01-01")
    await make_subject(consent, auth, child, birth_date="2020-05-01")
    await make_subject(consent, auth, unknown)
    for ext in (adult, unknown):
        assert (await post_consent(consent, auth, ext, key)).status_code == 201
    assert (await post_consent(consent, auth, child, key, given_by="guardian")).status_code == 201
    assert (await check(consent, auth, adult, key))["allowed"] is True
    assert (await check(consent, auth, child, key))["allowed"] is True  # guardian's consent
    assert (await check(consent, auth, unknown, key))["reasons"] == ["age_unknown"]


async def test_legitimate_interest_needs_no_grant(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id, legal_basis="legitimate_interest")
    result = await check(consent, auth, ext, key)
    assert result["allowed"] is True and result["basis"] == "legitimate_interest"


async def test_only_senders_may_check_and_bad_input_is_a_problem(consent, auth, new_id):
    params = {"subject": "x", "purpose": "p", "channel": "email"}
    assert (await consent.get("/v1/check", params=params)).status_code == 401
    assert (
        await consent.get("/v1/check", params=params, headers=auth("portal", "x"))
    ).status_code == 403
    assert (await consent.get("/v1/check", params=params, headers=auth("admin"))).status_code == 200
    bad = await consent.get(
        "/v1/check", params={**params, "channel": "pigeon"}, headers=auth("marketing")
    )
    assert bad.status_code == 422 and bad.json()["type"] == "urn:lupa:problem:invalid-input"
    past = await consent.get(
        "/v1/check", params={**params, "at": "2000-01-01T00:00:00Z"}, headers=auth("marketing")
    )
    assert past.status_code == 422


async def test_a_check_is_never_cached_by_intermediaries(consent, auth):
    resp = await consent.get(
        "/v1/check",
        params={"subject": "x", "purpose": "p", "channel": "email"},
        headers=auth("marketing"),
    )
    assert "no-store" in resp.headers["cache-control"]
