"""Subjects over HTTP: encrypted personal data, portal scoping, lookup by email."""

from __future__ import annotations

from sqlalchemy import text


async def test_admin_creates_and_reads_a_subject(consent, auth, new_id):
    ext = new_id("cust")
    body = {
        "email": " Anna@Example.FI ",
        "phone": "+358 40 123 4567",
        "name": "Anna Virtanen",
        "locale": "fi",
        "birth_date": "1990-05-01",
    }
    created = await consent.put(f"/v1/subjects/{ext}", json=body, headers=auth("admin"))
    assert created.status_code == 201, created.text
    got = (await consent.get(f"/v1/subjects/{ext}", headers=auth("admin"))).json()
    assert got["email"] == "anna@example.fi"
    assert got["phone"] == "+358401234567"
    assert got["locale"] == "fi" and got["birth_date"] == "1990-05-01"


async def test_update_keeps_omitted_fields_and_null_clears(consent, auth, new_id):
    ext = new_id("cust")
    await consent.put(
        f"/v1/subjects/{ext}", json={"email": "a@b.fi", "name": "A"}, headers=auth("admin")
    )
    resp = await consent.put(
        f"/v1/subjects/{ext}", json={"name": None, "locale": "sv"}, headers=auth("admin")
    )
    assert resp.status_code == 200
    assert resp.json()["email"] == "a@b.fi" and resp.json()["name"] is None
    assert resp.json()["locale"] == "sv"


async def test_ciphertext_in_the_database_does_not_contain_the_email(
    consent, auth, new_id, session_factory
):
    ext = new_id("cust")
    email = f"{ext}@secret.example"
    await consent.put(f"/v1/subjects/{ext}", json={"email": email}, headers=auth("admin"))
    async with session_factory() as s:
        row = (
            (await s.execute(text("SELECT * FROM subjects WHERE external_id = :e"), {"e": ext}))
            .mappings()
            .one()
        )
    dumped = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row.values())
    assert email.encode() not in dumped
    assert ext.split("-")[1].encode() not in (row["email_ct"] or b"")


async def test_portal_token_reaches_only_its_own_subject(consent, auth, new_id):
    mine, other = new_id("me"), new_id("other")
    await consent.put(f"/v1/subjects/{other}", json={"email": "o@x.fi"}, headers=auth("admin"))
    own = await consent.put(
        f"/v1/subjects/{mine}", json={"email": "m@x.fi"}, headers=auth("portal", mine)
    )
    assert own.status_code == 201
    denied = await consent.get(f"/v1/subjects/{other}", headers=auth("portal", mine))
    assert denied.status_code == 403
    assert "o@x.fi" not in denied.text


async def test_lookup_by_email_uses_the_blind_index(consent, auth, new_id):
    ext = new_id("cust")
    await consent.put(
        f"/v1/subjects/{ext}", json={"email": f"{ext}@Look.fi"}, headers=auth("admin")
    )
    found = await consent.post(
        "/v1/subjects/lookup", json={"email": f"  {ext.upper()}@look.FI"}, headers=auth("officer")
    )
    assert found.status_code == 200
    assert [s["external_id"] for s in found.json()] == [ext]


async def test_invalid_values_are_problems_and_change_nothing(consent, auth, new_id):
    ext = new_id("cust")
    for body in (
        {"email": "not-an-address"},
        {"phone": "12"},
        {"locale": "de"},
        {"birth_date": "2999-01-01"},
        {"email": 5},
        {"unknown": "x"},
    ):
        resp = await consent.put(f"/v1/subjects/{ext}", json=body, headers=auth("admin"))
        assert resp.status_code == 422, (body, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
    assert (await consent.get(f"/v1/subjects/{ext}", headers=auth("admin"))).status_code == 404


async def test_malformed_external_id_is_rejected(consent, auth):
    resp = await consent.get("/v1/subjects/" + "x" * 129, headers=auth("admin"))
    assert resp.status_code in (400, 422)
    assert resp.headers["content-type"].startswith("application/problem+json")
