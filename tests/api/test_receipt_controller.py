"""The controller named in receipts comes from the settings the app was built with, once."""

from __future__ import annotations

import jwt
from litestar.testing import AsyncTestClient

from services.consent.app import create_app
from services.consent.service.receipts import LedgerContext
from services.consent.settings import ConsentSettings, ControllerSettings
from tests.ledger_helpers import post_consent, scene

ACME = ControllerSettings(
    name="Acme Oy",
    contact="privacy@acme.example",
    jurisdiction="SE",
    policy_url="https://acme.example/privacy",
)
ENVIRONMENT = {
    "LUPA_CONTROLLER_NAME": "Not from the settings",
    "LUPA_CONTROLLER_CONTACT": "wrong@example.invalid",
    "LUPA_JURISDICTION": "XX",
    "LUPA_POLICY_URL": "https://wrong.example/privacy",
}


async def test_receipts_name_the_controller_of_the_apps_settings_not_the_environment(
    consent_settings, keyring, auth, new_id, monkeypatch
):
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    app = create_app(consent_settings, keyring=keyring, consent=ConsentSettings(controller=ACME))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        key, ext = await scene(client, auth, new_id)
        granted = await post_consent(client, auth, ext, key)
    assert granted.status_code == 201, granted.text
    claims = jwt.decode(granted.json()["receipt"]["jws"], options={"verify_signature": False})
    assert claims["piiControllers"][0]["piiController"] == "Acme Oy"
    assert claims["piiControllers"][0]["contact"] == "privacy@acme.example"
    assert claims["jurisdiction"] == "SE"
    assert claims["policyUrl"] == "https://acme.example/privacy"


def test_settings_from_the_environment_carry_the_controller():
    env = {"DATABASE_URL": "postgresql://x/x", **ENVIRONMENT, "LUPA_UNRELATED": "ignored"}
    controller = ConsentSettings.from_env(env).controller
    assert controller == ControllerSettings(
        name="Not from the settings",
        contact="wrong@example.invalid",
        jurisdiction="XX",
        policy_url="https://wrong.example/privacy",
    )


def test_without_controller_settings_the_defaults_apply_whatever_the_environment(monkeypatch):
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    context = LedgerContext.from_settings("https://lupa.example/", ControllerSettings())
    assert context.controller.name == "Lupa data controller"
    assert context.controller.jurisdiction == "FI"
    assert context.controller.policy_url == "https://lupa.example/privacy"
