"""``/privacy``: the controller's privacy notice, where receipts' ``policyUrl`` points by default.

Public: a receipt's reader follows the link without a token. The page is the operator's file
(``LUPA_PRIVACY_NOTICE_FILE``), read once at start-up, or else a minimal page generated from
the controller's settings, so the link never answers 404.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import structlog
from litestar import Controller, MediaType, Request, get

from services.consent.domain.receipts import ControllerIdentity
from services.consent.settings import ControllerSettings

PRIVACY_NOTICE_KEY = "privacy_notice"


def generated_notice(controller: ControllerIdentity) -> str:
    """A minimal notice naming the controller and how to reach it (every value escaped)."""
    details = [
        ("Contact", controller.contact),
        ("Address", controller.address),
        ("Email", controller.email),
        ("Phone", controller.phone),
        ("Web", controller.url),
    ]
    rows = "".join(
        f"<dt>{label}</dt><dd>{html.escape(value)}</dd>" for label, value in details if value
    )
    name = html.escape(controller.name)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Privacy notice: {name}</title></head><body>"
        f"<h1>Privacy notice</h1><p>The data controller is <strong>{name}</strong> "
        f"(jurisdiction {html.escape(controller.jurisdiction)}).</p><dl>{rows}</dl>"
        "<p>Each consent you give or withdraw is recorded, and you receive a signed receipt "
        "of it naming the purpose, its version and this notice. To ask about, access or "
        "erase your data, contact the controller above.</p></body></html>"
    )


def privacy_notice(settings: ControllerSettings, controller: ControllerIdentity) -> str:
    """The page ``GET /privacy`` serves; an unreadable configured file fails start-up."""
    if settings.privacy_notice_file:
        return Path(settings.privacy_notice_file).read_text(encoding="utf-8")
    return generated_notice(controller)


def warn_about_controller(settings: ControllerSettings) -> list[str]:
    """Log a start-up warning for each gap in what receipts say about the controller; the
    events it logged."""
    log = structlog.get_logger("lupa")
    warned = []
    missing = settings.missing_details()
    if missing:
        log.warning(
            "controller_details_missing",
            settings=missing,
            hint="receipts name a placeholder or omit what Kantara CR v1.1 requires: set these",
        )
        warned.append("controller_details_missing")
    if not settings.privacy_notice_file and not settings.policy_url:
        log.warning(
            "privacy_notice_not_configured",
            hint="GET /privacy serves a generated page: set LUPA_PRIVACY_NOTICE_FILE to the "
            "controller's notice, or LUPA_POLICY_URL to where it is published",
        )
        warned.append("privacy_notice_not_configured")
    return warned


class PrivacyNoticeController(Controller):
    path = "/privacy"
    tags = ["privacy notice"]
    opt = {"public": True}

    @get(media_type=MediaType.HTML, summary="The controller's privacy notice (an HTML page)")
    async def privacy_notice(self, request: Request[Any, Any, Any]) -> str:
        return request.app.state[PRIVACY_NOTICE_KEY]  # type: ignore[no-any-return]
