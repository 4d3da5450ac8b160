"""Scenes for check tests: a purpose, a subject and a grant, over HTTP."""

from __future__ import annotations

from typing import Any

from tests.ledger_helpers import make_purpose, make_subject, post_consent


async def granted(consent: Any, auth: Any, new_id: Any, **purpose: Any) -> tuple[str, str, str]:
    """A fresh purpose and subject with an email grant; returns (purpose, subject, event id)."""
    key, ext = new_id("p"), new_id("cust")
    await make_purpose(consent, auth, key, **purpose)
    await make_subject(consent, auth, ext)
    resp = await post_consent(consent, auth, ext, key)
    assert resp.status_code == 201, resp.text
    return key, ext, resp.json()["event"]["event_id"]


async def check(
    consent: Any, auth: Any, ext: str, key: str, channel: str = "email", **params: str
) -> dict[str, Any]:
    resp = await consent.get(
        "/v1/check",
        params={"subject": ext, "purpose": key, "channel": channel, **params},
        headers=auth("marketing"),
    )
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def patch_preferences(consent: Any, auth: Any, ext: str, patch: dict[str, Any]) -> None:
    resp = await consent.patch(
        f"/v1/subjects/{ext}/preferences", json=patch, headers={**auth("admin"), "If-Match": "*"}
    )
    assert resp.status_code == 200, resp.text
