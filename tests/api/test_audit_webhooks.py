"""Admin manages webhook subscriptions and dead letters; each change is itself audited."""

from __future__ import annotations

import base64
import uuid

from standardwebhooks.webhooks import Webhook

WEBHOOK = {"url": "http://127.0.0.1:9/hook", "types": ["fi.lupa.consent.purpose.created"]}


async def _events_of(consent, auth, event_type):
    page = (
        await consent.get(f"/v1/audit/events?type={event_type}&limit=1000", headers=auth("admin"))
    ).json()
    events = page["events"]
    while page["events"]:
        page = (
            await consent.get(
                f"/v1/audit/events?type={event_type}&limit=1000&after={page['next']}",
                headers=auth("admin"),
            )
        ).json()
        events += page["events"]
    return events


async def test_admin_subscribes_lists_and_deletes_a_webhook(consent, auth):
    created = await consent.post("/v1/audit/webhooks", json=WEBHOOK, headers=auth("admin"))
    assert created.status_code == 201, created.text
    body = created.json()
    # Standard Webhooks form, usable as-is by the reference library
    assert body["secret"].startswith("whsec_") and len(base64.b64decode(body["secret"][6:])) >= 24
    Webhook(body["secret"])
    listed = (await consent.get("/v1/audit/webhooks", headers=auth("admin"))).json()
    assert body["id"] in [w["id"] for w in listed]
    assert all("secret" not in w for w in listed)
    gone = await consent.delete(f"/v1/audit/webhooks/{body['id']}", headers=auth("admin"))
    assert gone.status_code == 204
    assert (
        await consent.delete(f"/v1/audit/webhooks/{body['id']}", headers=auth("admin"))
    ).status_code == 404
    created_events = await _events_of(consent, auth, "consent.audit.webhook.created")
    deleted_events = await _events_of(consent, auth, "consent.audit.webhook.deleted")
    assert body["id"] in [e["data"]["subscription"] for e in created_events]
    assert body["id"] in [e["data"]["subscription"] for e in deleted_events]


async def test_a_bad_webhook_url_is_refused_and_nothing_is_stored(consent, auth):
    before = (await consent.get("/v1/audit/webhooks", headers=auth("admin"))).json()
    for url in ("ftp://example.org/x", "http://user:pw@example.org/x", "not a url at all"):
        bad = await consent.post("/v1/audit/webhooks", json={"url": url}, headers=auth("admin"))
        assert bad.status_code in (400, 422), bad.text
    assert (await consent.get("/v1/audit/webhooks", headers=auth("admin"))).json() == before


async def test_only_admin_manages_webhooks(consent, auth):
    assert (await consent.get("/v1/audit/webhooks", headers=auth("cx"))).status_code == 403
    assert (
        await consent.post("/v1/audit/webhooks", json=WEBHOOK, headers=auth("cx"))
    ).status_code == 403
    assert (await consent.get("/v1/audit/dead-letters", headers=auth("cx"))).status_code == 403


async def test_replaying_an_unknown_dead_letter_is_not_found(consent, auth):
    missing = await consent.post(
        f"/v1/audit/dead-letters/{uuid.uuid4()}/replay", headers=auth("admin")
    )
    assert missing.status_code == 404
    assert (await consent.get("/v1/audit/dead-letters", headers=auth("admin"))).status_code == 200


async def test_a_given_secret_must_take_the_standard_form(consent, auth):
    for secret in ("plain-text-secret-plain-text-secret", "whsec_c2hvcnQ="):
        refused = await consent.post(
            "/v1/audit/webhooks", json={**WEBHOOK, "secret": secret}, headers=auth("admin")
        )
        assert refused.status_code == 422 and refused.json()["field"] == "secret"
        assert secret not in refused.text
    good = "whsec_" + base64.b64encode(b"x" * 24).decode()
    accepted = await consent.post(
        "/v1/audit/webhooks", json={**WEBHOOK, "secret": good}, headers=auth("admin")
    )
    assert accepted.status_code == 201 and accepted.json()["secret"] == good
