"""Start-up warns while receipts would name a placeholder controller, omit details Kantara CR
v1.1 requires, or point at a privacy notice nobody configured (``create_app`` calls this once
logging is configured)."""

from __future__ import annotations

from structlog.testing import capture_logs

from services.consent.api.privacy import warn_about_controller
from services.consent.settings import ControllerSettings

COMPLETE = ControllerSettings(
    name="Acme Oy",
    contact="Anna A.",
    address="Esimerkkikatu 1",
    email="privacy@acme.example",
    phone="+358 9 123 4567",
    privacy_notice_file="/etc/lupa/privacy.html",
)


def warnings_for(settings: ControllerSettings) -> dict[str, dict]:
    with capture_logs() as logs:
        warn_about_controller(settings)
    return {entry["event"]: entry for entry in logs if entry["log_level"] == "warning"}


def test_the_shipped_defaults_are_warned_about_by_setting_name():
    warnings = warnings_for(ControllerSettings())
    assert warnings["controller_details_missing"]["settings"] == [
        "LUPA_CONTROLLER_NAME",
        "LUPA_CONTROLLER_CONTACT",
        "LUPA_CONTROLLER_ADDRESS",
        "LUPA_CONTROLLER_EMAIL",
        "LUPA_CONTROLLER_PHONE",
    ]
    assert "privacy_notice_not_configured" in warnings


def test_a_placeholder_email_still_counts_as_missing():
    from dataclasses import replace

    warnings = warnings_for(replace(COMPLETE, email="privacy@lupa.invalid"))
    assert warnings["controller_details_missing"]["settings"] == ["LUPA_CONTROLLER_EMAIL"]


def test_a_complete_controller_with_a_notice_is_not_warned_about():
    assert warnings_for(COMPLETE) == {}


def test_a_policy_url_elsewhere_is_a_configured_notice():
    from dataclasses import replace

    elsewhere = replace(COMPLETE, privacy_notice_file=None, policy_url="https://acme.example/p")
    assert warnings_for(elsewhere) == {}
    assert "privacy_notice_not_configured" in warnings_for(replace(elsewhere, policy_url=None))
