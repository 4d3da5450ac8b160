"""Preferences over HTTP: defaults, merge-patch with ETag/If-Match, bad input changes nothing."""

from __future__ import annotations

import pytest

PURPOSE = {"legal_basis": "consent", "title": {"en": "News"}, "channels": ["email"]}


async def new_subject(consent, auth, new_id) -> str:
    ext = new_id("cust")
    resp = await consent.put(f"/v1/subjects/{ext}", json={"locale": "fi"}, headers=auth("admin"))
    assert resp.status_code == 201, resp.text
    return ext


def url(ext: str) -> str:
    return f"/v1/subjects/{ext}/preferences"


async def test_a_new_subject_reads_the_defaults_with_a_stable_etag(consent, auth, new_id):
    ext = await new_subject(consent, auth, new_id)
    first = await consent.get(url(ext), headers=auth("portal", ext))
    assert first.status_code == 200, first.text
    assert first.headers["etag"] == '"0"'
    assert first.json()["channels"]["email"] == {"enabled": True, "frequency": "immediately"}
    assert first.json()["marketing_opt_out"] is False and first.json()["paused_until"] is None
    again = await consent.get(url(ext), headers=auth("cx"))
    assert again.headers["etag"] == '"0"' and again.json() == first.json()


async def test_a_patch_is_read_back_with_a_new_etag(consent, auth, new_id):
    ext = await new_subject(consent, auth, new_id)
    purpose = new_id("news")
    await consent.put(f"/v1/purposes/{purpose}", json=PURPOSE, headers=auth("admin"))
    patch = {
        "channels": {"sms": {"enabled": False}, "email": {"frequency": "weekly"}},
        "topics": {purpose: ["running", "cycling"]},
        "language": "sv",
        "quiet_hours": {"start": "21:00", "end": "08:00", "timezone": "Europe/Helsinki"},
        "paused_until": "2099-01-01T00:00:00+02:00",
        "marketing_opt_out": True,
    }
    resp = await consent.patch(
        url(ext), json=patch, headers={**auth("portal", ext), "If-Match": '"0"'}
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["etag"] == '"1"'
    got = await consent.get(url(ext), headers=auth("admin"))
    assert got.headers["etag"] == '"1"' and got.json() == resp.json()
    doc = got.json()
    assert doc["channels"]["sms"] == {"enabled": False, "frequency": "immediately"}
    assert doc["channels"]["email"] == {"enabled": True, "frequency": "weekly"}
    assert doc["topics"] == {purpose: ["cycling", "running"]}
    assert doc["paused_until"] == "2098-12-31T22:00:00Z"
    assert doc["language"] == "sv" and doc["marketing_opt_out"] is True


async def test_merge_patch_content_type_and_star_if_match_are_accepted(consent, auth, new_id):
    ext = await new_subject(consent, auth, new_id)
    headers = {**auth("admin"), "If-Match": "*", "Content-Type": "application/merge-patch+json"}
    resp = await consent.patch(url(ext), content=b'{"language": "en"}', headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["language"] == "en"


async def test_a_stale_etag_is_412_and_changes_nothing(consent, auth, new_id):
    ext = await new_subject(consent, auth, new_id)
    admin = auth("admin")
    await consent.patch(url(ext), json={"language": "fi"}, headers={**admin, "If-Match": '"0"'})
    stale = await consent.patch(
        url(ext), json={"language": "sv"}, headers={**admin, "If-Match": '"0"'}
    )
    assert stale.status_code == 412
    assert stale.json()["type"] == "urn:lupa:problem:precondition-failed"
    assert stale.json()["etag"] == '"1"'
    got = await consent.get(url(ext), headers=admin)
    assert got.json()["language"] == "fi" and got.headers["etag"] == '"1"'


async def test_without_if_match_a_patch_is_428(consent, auth, new_id):
    ext = await new_subject(consent, auth, new_id)
    resp = await consent.patch(url(ext), json={"language": "fi"}, headers=auth("admin"))
    assert resp.status_code == 428
    assert resp.json()["type"] == "urn:lupa:problem:precondition-required"
    assert (await consent.get(url(ext), headers=auth("admin"))).headers["etag"] == '"0"'


@pytest.mark.parametrize(
    "patch",
    [
        {"channels": {"email": {"frequency": "hourly"}}},
        {"channels": {"email": {"enabled": "no"}}},
        {"quiet_hours": {"start": "21:00", "end": "08:00", "timezone": "Europe/Atlantis"}},
        {"quiet_hours": {"start": "21:00"}},
        {"paused_until": "2001-01-01T00:00:00Z"},
        {"paused_until": "2099-01-01T00:00:00"},
        {"language": "de"},
        {"topics": {"no-such-purpose-here": ["a"]}},
        {"favourite_colour": "blue"},
        {"channels": {"fax": {"enabled": True}}},
        {"marketing_opt_out": None},
    ],
)
async def test_invalid_values_are_422_and_change_nothing(consent, auth, new_id, patch):
    ext = await new_subject(consent, auth, new_id)
    resp = await consent.patch(url(ext), json=patch, headers={**auth("admin"), "If-Match": '"0"'})
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["type"] == "urn:lupa:problem:invalid-input"
    assert (await consent.get(url(ext), headers=auth("admin"))).headers["etag"] == '"0"'


async def test_a_body_that_is_not_an_object_is_a_problem(consent, auth, new_id):
    ext = await new_subject(consent, auth, new_id)
    for body in (b"[]", b"null", b"{not json"):
        resp = await consent.patch(
            url(ext),
            content=body,
            headers={**auth("admin"), "If-Match": "*", "Content-Type": "application/json"},
        )
        assert resp.status_code in (400, 422), resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")


async def test_a_portal_token_cannot_touch_another_subjects_preferences(consent, auth, new_id):
    ext = await new_subject(consent, auth, new_id)
    other = auth("portal", "someone-else")
    assert (await consent.get(url(ext), headers=other)).status_code == 403
    resp = await consent.patch(
        url(ext), json={"language": "fi"}, headers={**other, "If-Match": "*"}
    )
    assert resp.status_code == 403


async def test_read_only_roles_cannot_patch_and_marketing_cannot_read(consent, auth, new_id):
    ext = await new_subject(consent, auth, new_id)
    for role in ("cx", "officer", "marketing"):
        resp = await consent.patch(
            url(ext), json={"language": "fi"}, headers={**auth(role), "If-Match": "*"}
        )
        assert resp.status_code == 403
    assert (await consent.get(url(ext), headers=auth("marketing"))).status_code == 403


async def test_an_unknown_subject_is_404(consent, auth, new_id):
    ext = new_id("ghost")
    assert (await consent.get(url(ext), headers=auth("admin"))).status_code == 404
    resp = await consent.patch(url(ext), json={}, headers={**auth("admin"), "If-Match": "*"})
    assert resp.status_code == 404
