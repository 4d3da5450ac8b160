"""Each connector action's effect, as the check API and the subject API show it."""

from __future__ import annotations

from tests.api.check.helpers import check, granted
from tests.api.connector.fixtures import job_body, run, send
from tests.ledger_helpers import make_purpose, make_subject, post_consent


async def test_restriction_stops_every_check_until_it_is_lifted(
    connector, connector_secret, auth, new_id
):
    key, ext, _ = await granted(connector, auth, new_id)
    assert await run(connector, connector_secret, job_body("restriction", ext)) == {
        "status": "done"
    }
    assert "restricted" in (await check(connector, auth, ext, key))["reasons"]
    await run(connector, connector_secret, job_body("lift_restriction", ext))
    assert (await check(connector, auth, ext, key))["allowed"] is True


async def test_objection_stops_marketing_checks(connector, connector_secret, auth, new_id):
    key, ext, _ = await granted(connector, auth, new_id)
    assert await run(connector, connector_secret, job_body("objection", ext)) == {"status": "done"}
    result = await check(connector, auth, ext, key)
    assert result["allowed"] is False and "objected" in result["reasons"]


async def test_rectification_changes_the_subject_as_a_subject_write_would(
    connector, connector_secret, auth, new_id
):
    ext = new_id("cust")
    await make_subject(connector, auth, ext, name="Old Name")
    changes = {"email": " New@Example.COM ", "name": "New  Name"}
    answer = await run(connector, connector_secret, job_body("rectification", ext, changes=changes))
    assert answer == {"status": "done"}
    got = (await connector.get(f"/v1/subjects/{ext}", headers=auth("admin"))).json()
    assert got["email"] == "new@example.com" and got["name"] == "New Name"


async def test_a_rectification_with_an_invalid_email_is_refused(
    connector, connector_secret, auth, new_id
):
    ext = new_id("cust")
    await make_subject(connector, auth, ext)
    resp = await send(
        connector, connector_secret, job_body("rectification", ext, changes={"email": "nope"})
    )
    assert resp.status_code == 422
    got = (await connector.get(f"/v1/subjects/{ext}", headers=auth("admin"))).json()
    assert got["email"] == f"{ext}@example.com"


async def test_erasure_forgets_the_subject_and_every_check_says_erased(
    connector, connector_secret, auth, new_id
):
    key, ext, _ = await granted(connector, auth, new_id)
    assert await run(connector, connector_secret, job_body("erasure", ext)) == {"status": "done"}
    assert (await connector.get(f"/v1/subjects/{ext}", headers=auth("admin"))).status_code == 404
    result = await check(connector, auth, ext, key)
    assert result["allowed"] is False and "erased" in result["reasons"]
    # A second erasure job finds nothing left to do; access finds no one.
    assert await run(connector, connector_secret, job_body("erasure", ext)) == {"status": "done"}
    assert await run(connector, connector_secret, job_body("access", ext)) == {
        "status": "not_found"
    }


async def test_a_subject_is_found_by_email_when_the_external_id_is_unknown(
    connector, connector_secret, auth, new_id
):
    key, ext, _ = await granted(connector, auth, new_id)
    body = job_body("restriction")
    body["identity"] = {"external_id": new_id("other"), "email": f"{ext.upper()}@Example.com"}
    assert await run(connector, connector_secret, body) == {"status": "done"}
    assert "restricted" in (await check(connector, auth, ext, key))["reasons"]


async def test_a_subject_is_found_by_phone(connector, connector_secret, auth, new_id):
    key, ext, _ = await granted(connector, auth, new_id)
    phone = "+35840" + str(abs(hash(ext)))[:7]
    await make_subject(connector, auth, ext, phone=phone)
    body = job_body("restriction")
    body["identity"] = {"external_id": None, "email": None, "phone": phone}
    assert await run(connector, connector_secret, body) == {"status": "done"}
    assert "restricted" in (await check(connector, auth, ext, key))["reasons"]


async def test_a_repeated_job_is_the_same_job(connector, connector_secret, auth, new_id):
    key, ext, _ = await granted(connector, auth, new_id)
    restrict = job_body("restriction", ext)
    await run(connector, connector_secret, restrict)
    await run(connector, connector_secret, job_body("lift_restriction", ext))
    # The restriction's repeat is answered, not applied again: the lift stands.
    assert await run(connector, connector_secret, restrict) == {"status": "done"}
    assert (await check(connector, auth, ext, key))["allowed"] is True


async def test_a_repeated_erasure_job_answers_done(connector, connector_secret, auth, new_id):
    _, ext, _ = await granted(connector, auth, new_id)
    erase = job_body("erasure", ext)
    await run(connector, connector_secret, erase)
    assert await run(connector, connector_secret, erase) == {"status": "done"}


async def test_a_job_id_reused_for_another_action_is_a_conflict(
    connector, connector_secret, auth, new_id
):
    _, ext, _ = await granted(connector, auth, new_id)
    first = job_body("restriction", ext)
    await run(connector, connector_secret, first)
    resp = await send(connector, connector_secret, {**first, "action": "erasure"})
    assert resp.status_code == 409
    assert (await connector.get(f"/v1/subjects/{ext}", headers=auth("admin"))).status_code == 200


async def test_access_returns_what_the_service_holds(connector, connector_secret, auth, new_id):
    key, ext = new_id("p"), new_id("cust")
    await make_purpose(connector, auth, key, recipients=["Mailer Oy"], retention_days=730)
    await make_subject(connector, auth, ext, name="Anna Access", phone="+358401112233")
    await post_consent(connector, auth, ext, key)
    await post_consent(connector, auth, ext, key, action="withdraw", reason="too many mails")
    access = job_body("access", ext)
    answer = await run(connector, connector_secret, access)
    assert answer["status"] == "done"
    [subject] = answer["data"]["subjects"]
    assert subject["external_id"] == ext and subject["name"] == "Anna Access"
    assert subject["email"] == f"{ext}@example.com" and subject["phone"] == "+358401112233"
    assert [c["state"] for c in subject["consents"]] == ["withdrawn"]
    assert [h["action"] for h in subject["history"]] == ["grant", "withdraw"]
    assert subject["history"][1]["reason"] == "too many mails"
    assert len(subject["receipts"]) == 2
    [purpose] = answer["data"]["purposes"]
    assert purpose["key"] == key and purpose["recipients"] == ["Mailer Oy"]
    assert purpose["retention_days"] == 730 and purpose["title"]
    # A repeat computes the data again (nothing personal is stored for it).
    await make_subject(connector, auth, ext, name="Anna Renamed")
    again = await run(connector, connector_secret, access)
    assert again["data"]["subjects"][0]["name"] == "Anna Renamed"


async def test_a_grant_after_an_objection_allows_again(connector, connector_secret, auth, new_id):
    key, ext, _ = await granted(connector, auth, new_id)
    await run(connector, connector_secret, job_body("objection", ext))
    assert "objected" in (await check(connector, auth, ext, key))["reasons"]
    resp = await post_consent(connector, auth, ext, key)
    assert resp.status_code == 201, resp.text
    assert (await check(connector, auth, ext, key))["allowed"] is True


async def test_an_objection_stops_a_legitimate_interest_marketing_purpose_never_consented_to(
    connector, connector_secret, auth, new_id
):
    key, ext = new_id("p"), new_id("cust")
    await make_purpose(connector, auth, key, legal_basis="legitimate_interest")
    await make_subject(connector, auth, ext)
    assert (await check(connector, auth, ext, key))["allowed"] is True
    await run(connector, connector_secret, job_body("objection", ext))
    assert "objected" in (await check(connector, auth, ext, key))["reasons"]


async def test_an_objection_leaves_purposes_that_are_not_marketing(
    connector, connector_secret, auth, new_id
):
    key, ext, _ = await granted(connector, auth, new_id, purpose_category="Core Function")
    await run(connector, connector_secret, job_body("objection", ext))
    assert (await check(connector, auth, ext, key))["allowed"] is True
