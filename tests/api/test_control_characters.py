"""NUL and other control characters in free text: a 422 naming the field, nothing stored."""

from __future__ import annotations

import pytest

from tests.ledger_helpers import PURPOSE, make_purpose, make_subject

NUL, BELL, DEL, C1 = "\u0000", "\u0007", "\u007f", "\u0085"


def assert_refused(resp, field: str) -> None:
    assert resp.status_code == 422, resp.text
    problem = resp.json()
    assert problem["type"] == "urn:lupa:problem:invalid-input"
    assert field in [e["field"] for e in problem["errors"]], problem


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": {"en": f"News{NUL}letter"}}, "title.en"),
        ({"title": {"fi": f"Uutis{C1}kirje"}}, "title.fi"),
        ({"title": {"en": "Newsletter\n"}}, "title.en"),
        ({"description": {"sv": f"Nyheter{NUL}"}}, "description.sv"),
        ({"description": {"en": f"Monthly{BELL} news"}}, "description.en"),
    ],
)
async def test_a_purpose_text_with_a_control_character_is_refused(
    consent, auth, new_id, changes, field
):
    key = new_id("p")
    resp = await consent.put(
        f"/v1/purposes/{key}", json={**PURPOSE, **changes}, headers=auth("admin")
    )
    assert_refused(resp, field)
    assert (await consent.get(f"/v1/purposes/{key}", headers=auth("admin"))).status_code == 404


async def test_a_purpose_description_keeps_its_line_breaks(consent, auth, new_id):
    description = "First paragraph.\r\n\r\nSecond,\tindented."
    saved = await make_purpose(consent, auth, new_id("p"), description={"en": description})
    assert saved["description"] == {"en": description}


async def test_a_purpose_key_with_a_trailing_newline_is_refused(consent, auth, new_id):
    key = new_id("p")
    resp = await consent.put(f"/v1/purposes/{key}%0A", json=PURPOSE, headers=auth("admin"))
    assert_refused(resp, "key")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": f"anna{BELL}@example.fi"}, "email"),
        ({"email": f"anna@example.fi{NUL}"}, "email"),
        ({"email": f"anna{DEL}@example.fi"}, "email"),
        ({"name": f"Anna{NUL}Virtanen"}, "name"),
        ({"name": "Anna\tVirtanen"}, "name"),
        ({"phone": f"+358{NUL}401234567"}, "phone"),
    ],
)
async def test_subject_contact_data_with_a_control_character_is_refused(
    consent, auth, new_id, body, field
):
    ext = new_id("cust")
    resp = await consent.put(f"/v1/subjects/{ext}", json=body, headers=auth("admin"))
    assert_refused(resp, field)
    assert (await consent.get(f"/v1/subjects/{ext}", headers=auth("admin"))).status_code == 404


async def test_an_external_id_with_a_trailing_newline_is_refused(consent, auth, new_id):
    resp = await consent.put(f"/v1/subjects/{new_id('cust')}%0A", json={}, headers=auth("admin"))
    assert_refused(resp, "external_id")


async def test_looking_up_an_email_with_a_control_character_is_refused(consent, auth):
    resp = await consent.post(
        "/v1/subjects/lookup", json={"email": f"anna{NUL}@example.fi"}, headers=auth("officer")
    )
    assert_refused(resp, "email")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"action": "withdraw", "reason": f"Too many{NUL} mails"}, "reason"),
        ({"action": "withdraw", "reason": f"Too many{C1} mails"}, "reason"),
        ({"action": "grant", "page": "signup-v3\n"}, "page"),
    ],
)
async def test_consent_evidence_with_a_control_character_is_refused(
    consent, auth, new_id, extra, field
):
    key, ext = new_id("p"), new_id("cust")
    await make_purpose(consent, auth, key)
    await make_subject(consent, auth, ext)
    url = f"/v1/subjects/{ext}/consents"
    resp = await consent.post(
        url, json={"purpose": key, "channel": "email", **extra}, headers=auth("admin")
    )
    assert_refused(resp, field)
    history = await consent.get(f"{url}/history", headers=auth("admin"))
    assert history.json() == []


async def test_a_withdrawal_reason_keeps_its_line_breaks(consent, auth, new_id):
    key, ext = new_id("p"), new_id("cust")
    await make_purpose(consent, auth, key)
    await make_subject(consent, auth, ext)
    url = f"/v1/subjects/{ext}/consents"
    reason = "Too many mails.\nAnd too long."
    body = {"purpose": key, "channel": "email", "action": "withdraw", "reason": reason}
    assert (await consent.post(url, json=body, headers=auth("admin"))).status_code == 201
    history = (await consent.get(f"{url}/history", headers=auth("admin"))).json()
    assert history[0]["reason"] == reason
