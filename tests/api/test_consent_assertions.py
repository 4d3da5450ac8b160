"""What a caller may assert follows from its credential: a portal token records the portal as
source, a web page's method and the subject as giver; an admin may record what was collected
elsewhere. The page is stored without its query and fragment."""

from __future__ import annotations

import pytest

from tests.ledger_helpers import make_subject, post_consent, scene


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("source", "system"),
        ("source", "import"),
        ("collection_method", "paper"),
        ("collection_method", "verbal"),
        ("given_by", "guardian"),
    ],
)
async def test_a_portal_token_cannot_assert_evidence_it_does_not_hold(
    consent, auth, new_id, field, value
):
    key, ext = await scene(consent, auth, new_id)
    refused = await post_consent(consent, auth, ext, key, role="portal", **{field: value})
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["field"] == field
    states = await consent.get(f"/v1/subjects/{ext}/consents", headers=auth("admin"))
    assert states.json() == []  # nothing was recorded


async def test_a_portal_cannot_pass_a_minimum_age_by_naming_a_guardian(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id, min_age=13)
    await make_subject(consent, auth, ext, birth_date="2020-05-01")
    as_guardian = await post_consent(consent, auth, ext, key, role="portal", given_by="guardian")
    assert as_guardian.status_code == 403
    check = await consent.get(
        "/v1/check",
        params={"subject": ext, "purpose": key, "channel": "email"},
        headers=auth("marketing"),
    )
    assert check.status_code == 200 and check.json()["allowed"] is False


async def test_a_portal_records_its_own_kind_of_evidence(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    resp = await post_consent(consent, auth, ext, key, role="portal", collection_method="checkbox")
    assert resp.status_code == 201, resp.text
    event = resp.json()["event"]
    assert (event["source"], event["collection_method"], event["given_by"]) == (
        "portal",
        "checkbox",
        "subject",
    )


async def test_an_admin_records_consent_collected_elsewhere(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    resp = await post_consent(
        consent, auth, ext, key, source="call_centre", collection_method="verbal"
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["event"]["collection_method"] == "verbal"


@pytest.mark.parametrize(
    ("page", "stored"),
    [
        ("https://shop.example/signup?email=anna@example.com", "https://shop.example/signup"),
        ("https://shop.example/signup#anna@example.com", "https://shop.example/signup"),
        ("signup-v3", "signup-v3"),
        ("?email=anna@example.com", None),
    ],
)
async def test_the_page_is_kept_without_its_query_and_fragment(
    consent, auth, new_id, session_factory, page, stored
):
    key, ext = await scene(consent, auth, new_id)
    resp = await post_consent(consent, auth, ext, key, page=page)
    assert resp.status_code == 201, resp.text
    assert resp.json()["event"]["page"] == stored
    history = await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("admin"))
    assert "anna@example.com" not in history.text
