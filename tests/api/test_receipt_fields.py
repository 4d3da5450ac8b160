"""What a receipt says (Kantara CR v1.1 controller fields and vocabularies, ISO/IEC TS 27560
fields), what a purpose may be categorised as, and the privacy notice receipts point at.

Claims are read with PyJWT without verifying: signatures are judged elsewhere (joserfc)."""

from __future__ import annotations

import jwt
from litestar.testing import AsyncTestClient

from services.consent.app import create_app
from services.consent.settings import ConsentSettings, ControllerSettings
from tests.ledger_helpers import PURPOSE, post_consent, scene
from tests.openapi_judge import JudgedClient

ACME = ControllerSettings(
    name="Acme Oy",
    contact="Tietosuojavastaava Anna A.",
    jurisdiction="FI",
    address="Esimerkkikatu 1, 00100 Helsinki",
    email="privacy@acme.example",
    phone="+358 9 123 4567",
    url="https://acme.example",
    storage_location="EU (Finland)",
    policy_url="https://acme.example/privacy",
)


def claims_of(response) -> dict:
    assert response.status_code == 201, response.text
    return jwt.decode(response.json()["receipt"]["jws"], options={"verify_signature": False})


async def test_a_receipt_names_the_controller_with_every_kantara_field(
    consent_settings, keyring, auth, new_id
):
    app = create_app(consent_settings, keyring=keyring, consent=ConsentSettings(controller=ACME))
    async with JudgedClient(app=app, base_url="http://testserver.local") as client:
        key, ext = await scene(client, auth, new_id)
        claims = claims_of(await post_consent(client, auth, ext, key))
    assert claims["piiControllers"] == [
        {
            "piiController": "Acme Oy",
            "contact": "Tietosuojavastaava Anna A.",
            "address": {"streetAddress": "Esimerkkikatu 1, 00100 Helsinki"},
            "email": "privacy@acme.example",
            "phone": "+358 9 123 4567",
            "onBehalf": False,
            "piiControllerUrl": "https://acme.example",
        }
    ]
    assert claims["parties"] == [
        {"id": "https://acme.example", "type": "controller", "name": "Acme Oy"}
    ]
    assert claims["storageLocation"] == "EU (Finland)"


async def test_a_receipt_carries_the_purposes_categories_and_the_27560_fields(
    consent, auth, new_id
):
    key, ext = await scene(
        consent,
        auth,
        new_id,
        purpose_category="Personalized Experience",
        pii_categories=["Contact", "Network/Service"],
    )
    claims = claims_of(await post_consent(consent, auth, ext, key))
    [purpose] = claims["services"][0]["purposes"]
    assert purpose["purposeCategory"] == ["Personalized Experience"]
    assert purpose["piiCategory"] == ["Contact", "Network/Service"]
    assert claims["notice"] == {
        "id": f"urn:lupa:purpose:{key}",
        "version": 1,
        "url": "http://testserver.local/privacy",
    }
    # Without settings: the controller is the placeholder, found by name; stored where it rules.
    assert claims["parties"][0]["type"] == "controller"
    assert claims["parties"][0]["id"] == claims["piiControllers"][0]["piiController"]
    assert claims["storageLocation"] == claims["jurisdiction"] == "FI"
    assert claims["schemaVersion"] == "lupa-consent-receipt/2"


async def test_a_purpose_without_categories_is_marketing_of_contact_data(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    shown = (await consent.get(f"/v1/purposes/{key}", headers=auth("cx"))).json()
    assert (shown["purpose_category"], shown["pii_categories"]) == ("Marketing", ["Contact"])
    [purpose] = claims_of(await post_consent(consent, auth, ext, key))["services"][0]["purposes"]
    assert (purpose["purposeCategory"], purpose["piiCategory"]) == (["Marketing"], ["Contact"])


async def test_changing_a_purposes_categories_updates_it_in_place(consent, auth, new_id):
    key = new_id("cat")
    await consent.put(f"/v1/purposes/{key}", json=PURPOSE, headers=auth("admin"))
    changed = {**PURPOSE, "purpose_category": "Contracted Service", "pii_categories": ["Financial"]}
    updated = await consent.put(f"/v1/purposes/{key}", json=changed, headers=auth("admin"))
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert (body["purpose_category"], body["pii_categories"]) == (
        "Contracted Service",
        ["Financial"],
    )
    assert body["version"] == 1  # the text did not change


async def test_categories_outside_the_vocabulary_are_422_naming_the_field(consent, auth, new_id):
    for field, value in [
        ("purpose_category", "Selling your soul"),
        ("pii_categories", ["Contact", "Shoe size"]),
        ("pii_categories", []),
        ("pii_categories", ["Contact", "Contact"]),
    ]:
        key = new_id("badcat")
        body = {**PURPOSE, field: value}
        resp = await consent.put(f"/v1/purposes/{key}", json=body, headers=auth("admin"))
        assert resp.status_code == 422, (field, value, resp.text)
        problem = resp.json()
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert field in str(problem), problem
        gone = await consent.get(f"/v1/purposes/{key}", headers=auth("cx"))
        assert gone.status_code == 404


async def test_the_default_policy_url_answers_with_a_generated_notice(consent):
    page = await consent.get("/privacy")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Lupa data controller" in page.text and "privacy@lupa.invalid" in page.text


async def test_a_generated_notice_names_the_controller_and_its_contact_details(
    consent_settings, keyring
):
    app = create_app(consent_settings, keyring=keyring, consent=ConsentSettings(controller=ACME))
    async with JudgedClient(app=app, base_url="http://testserver.local") as client:
        page = await client.get("/privacy")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for detail in ("Acme Oy", "privacy@acme.example", "+358 9 123 4567", "Esimerkkikatu 1"):
        assert detail in page.text


async def test_a_configured_notice_file_is_served_as_it_is(consent_settings, keyring, tmp_path):
    notice = tmp_path / "notice.html"
    notice.write_text("<!doctype html><title>Acme</title><p>Our notice, ä.</p>", "utf-8")
    controller = ControllerSettings(name="Acme Oy", privacy_notice_file=str(notice))
    app = create_app(
        consent_settings, keyring=keyring, consent=ConsentSettings(controller=controller)
    )
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        page = await client.get("/privacy")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text == notice.read_text("utf-8")
