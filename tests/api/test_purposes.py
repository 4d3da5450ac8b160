"""The purpose catalogue over HTTP."""

from __future__ import annotations

PURPOSE = {
    "legal_basis": "consent",
    "title": {"en": "Newsletter", "fi": "Uutiskirje"},
    "description": {"en": "Monthly news"},
    "channels": ["email", "sms"],
}


async def test_admin_creates_a_purpose_and_everyone_can_read_it(consent, auth, new_id):
    key = new_id("news")
    created = await consent.put(f"/v1/purposes/{key}", json=PURPOSE, headers=auth("admin"))
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    listed = await consent.get("/v1/purposes", headers=auth("marketing"))
    assert key in [p["key"] for p in listed.json()]


async def test_changed_text_makes_a_new_version_and_keeps_the_old_one(consent, auth, new_id):
    key = new_id("offers")
    await consent.put(f"/v1/purposes/{key}", json=PURPOSE, headers=auth("admin"))
    changed = {**PURPOSE, "title": {"en": "Our newsletter"}, "require_renewal": True}
    updated = await consent.put(f"/v1/purposes/{key}", json=changed, headers=auth("admin"))
    assert updated.status_code == 200
    assert updated.json()["version"] == 2
    assert updated.json()["min_accepted_version"] == 2
    versions = (await consent.get(f"/v1/purposes/{key}/versions", headers=auth("cx"))).json()
    assert [v["title"]["en"] for v in versions] == ["Newsletter", "Our newsletter"]


async def test_same_text_again_changes_nothing(consent, auth, new_id):
    key = new_id("same")
    await consent.put(f"/v1/purposes/{key}", json=PURPOSE, headers=auth("admin"))
    again = await consent.put(f"/v1/purposes/{key}", json=PURPOSE, headers=auth("admin"))
    assert again.status_code == 200 and again.json()["version"] == 1


async def test_unknown_channel_is_a_clear_problem(consent, auth, new_id):
    bad = {**PURPOSE, "channels": ["email", "pigeon"]}
    resp = await consent.put(f"/v1/purposes/{new_id('bad')}", json=bad, headers=auth("admin"))
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["type"] == "urn:lupa:problem:invalid-input"


async def test_marketing_cannot_write_purposes(consent, auth, new_id):
    resp = await consent.put(f"/v1/purposes/{new_id('x')}", json=PURPOSE, headers=auth("marketing"))
    assert resp.status_code == 403
    assert resp.json()["type"] == "urn:lupa:problem:forbidden"


async def test_no_token_is_401(consent):
    resp = await consent.get("/v1/purposes")
    assert resp.status_code == 401
