"""Every write endpoint of the consent service leaves its audit event in the feed.

The walk starts from the app's own route table: a write route added later without a
scenario here fails ``test_every_write_route_has_a_scenario``, so no write escapes the check.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from shared.auth.guards import route_roles
from tests.ledger_helpers import make_purpose, make_subject

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# POSTs that read: they change nothing, so they have no event.
READ_ONLY_POSTS = {
    "/v1/subjects/lookup",
    "/v1/check/batch",
    "/v1/unsubscribe-links",
    "/v1/subjects/{external_id:str}/preference-links",  # signs a link, stores nothing
}

Expected = tuple[str | None, str, Callable[[dict[str, Any]], bool]]


async def feed_has(consent: Any, auth: Any, expected: Expected) -> bool:
    """Page through the feed (cx role) looking for one matching event."""
    subject, event_type, matches = expected
    after = "0"
    while True:
        params = {"type": event_type, "after": after, "limit": "1000"}
        if subject:
            params["subject"] = subject
        page = (await consent.get("/v1/audit/events", params=params, headers=auth("cx"))).json()
        if any(matches(e["data"]) for e in page["events"]):
            return True
        if not page["events"]:
            return False
        after = page["next"]


async def put_purpose(consent, auth, new_id, engine) -> Expected:
    key = new_id("walk")
    await make_purpose(consent, auth, key)
    return None, "fi.lupa.consent.purpose.created", lambda d: d["purpose"] == key


async def put_subject(consent, auth, new_id, engine) -> Expected:
    subject = await make_subject(consent, auth, new_id("walk"))
    return subject["id"], "fi.lupa.consent.subject.created", lambda d: True


async def post_consent(consent, auth, new_id, engine) -> Expected:
    key = new_id("walk")
    await make_purpose(consent, auth, key)
    subject = await make_subject(consent, auth, new_id("walk"))
    resp = await consent.post(
        f"/v1/subjects/{subject['external_id']}/consents",
        headers=auth("admin"),
        json={"purpose": key, "channel": "email", "action": "grant", "source": "api"},
    )
    assert resp.status_code == 201, resp.text
    return subject["id"], "fi.lupa.consent.consent.granted", lambda d: d["purpose"] == key


async def patch_preferences(consent, auth, new_id, engine) -> Expected:
    subject = await make_subject(consent, auth, new_id("walk"))
    resp = await consent.patch(
        f"/v1/subjects/{subject['external_id']}/preferences",
        headers={**auth("admin"), "If-Match": "*"},
        json={"channels": {"sms": {"enabled": False}}},
    )
    assert resp.status_code == 200, resp.text
    return subject["id"], "fi.lupa.consent.preference.changed", lambda d: True


async def confirm_double_opt_in(consent, auth, new_id, engine) -> Expected:
    key = new_id("walk")
    await make_purpose(consent, auth, key, double_opt_in_channels=["email"])
    subject = await make_subject(consent, auth, new_id("walk"))
    granted = await consent.post(
        f"/v1/subjects/{subject['external_id']}/consents",
        headers=auth("admin"),
        json={"purpose": key, "channel": "email", "action": "grant", "source": "api"},
    )
    link = granted.json()["confirmation_url"]
    resp = await consent.post(link[link.index("/v1/") :])
    assert resp.status_code == 200, resp.text
    return subject["id"], "fi.lupa.consent.consent.confirmed", lambda d: d["purpose"] == key


async def create_webhook(consent, auth, new_id, engine) -> Expected:
    name = new_id("hook")
    resp = await consent.post(
        "/v1/audit/webhooks", headers=auth("admin"), json={"url": f"http://127.0.0.1:9/{name}"}
    )
    assert resp.status_code == 201, resp.text
    hook_id = resp.json()["id"]
    return (
        None,
        "fi.lupa.consent.audit.webhook.created",
        lambda d: d.get("subscription") == str(hook_id),
    )


async def delete_webhook(consent, auth, new_id, engine) -> Expected:
    created = await consent.post(
        "/v1/audit/webhooks", headers=auth("admin"), json={"url": "http://127.0.0.1:9/x"}
    )
    hook_id = created.json()["id"]
    resp = await consent.delete(f"/v1/audit/webhooks/{hook_id}", headers=auth("admin"))
    assert resp.status_code in (200, 204), resp.text
    return (
        None,
        "fi.lupa.consent.audit.webhook.deleted",
        lambda d: d.get("subscription") == str(hook_id),
    )


async def replay_dead_letter(consent, auth, new_id, engine) -> Expected:
    from sqlalchemy import text

    created = await consent.post(
        "/v1/audit/webhooks", headers=auth("admin"), json={"url": "http://127.0.0.1:9/dead"}
    )
    letter_id = uuid.uuid4()
    async with engine.begin() as conn:  # a delivery that failed every retry, as the relay leaves it
        await conn.execute(
            text(
                "INSERT INTO webhook_dead_letters"
                " (id, subscription_id, service, sequence, event_id, attempts)"
                " VALUES (:id, :sub, 'consent', 1, :event, 8)"
            ),
            {"id": letter_id, "sub": created.json()["id"], "event": uuid.uuid4()},
        )
    resp = await consent.post(f"/v1/audit/dead-letters/{letter_id}/replay", headers=auth("admin"))
    assert resp.status_code in (200, 202, 204), resp.text
    return (
        None,
        "fi.lupa.consent.audit.dead_letter.replay_requested",
        lambda d: d.get("dead_letter") == str(letter_id),
    )


async def one_click_unsubscribe(consent, auth, new_id, engine) -> Expected:
    key = new_id("walk")
    await make_purpose(consent, auth, key)
    subject = await make_subject(consent, auth, new_id("walk"))
    ext = subject["external_id"]
    grant = {"purpose": key, "channel": "email", "action": "grant", "source": "api"}
    await consent.post(f"/v1/subjects/{ext}/consents", headers=auth("admin"), json=grant)
    minted = await consent.post(
        "/v1/unsubscribe-links",
        headers=auth("marketing"),
        json={"purpose": key, "channel": "email", "subjects": [ext]},
    )
    url = minted.json()["links"][0]["url"]
    resp = await consent.post(url[url.index("/v1/") :], data={"List-Unsubscribe": "One-Click"})
    assert resp.status_code == 200, resp.text
    return subject["id"], "fi.lupa.consent.consent.withdrawn", lambda d: d["purpose"] == key


async def connector_job(consent, auth, new_id, engine) -> Expected:
    from services.consent.api.connector import CONNECTOR_SECRET_KEY
    from tests.api.connector.fixtures import job_body, run

    secret = consent.app.state[CONNECTOR_SECRET_KEY]
    subject = await make_subject(consent, auth, new_id("walk"))
    job = job_body("restriction", subject["external_id"])
    assert await run(consent, secret, job) == {"status": "done"}
    return (
        job["request"],
        "fi.lupa.consent.connector.job_answered",
        lambda d: d["job"] == job["job"],
    )


async def cx_session(consent, auth, new_id, engine, sign_out: bool = False) -> Expected:
    """The CX dashboard's sign-in (and sign-out): pages, so not judged by the document."""
    import hashlib
    import re

    from shared.web.sessions import cookie_name

    token = auth("cx")["Authorization"].removeprefix("Bearer ")
    document, consent.document = consent.document, None
    try:
        signed_in = await consent.post("/cx/sign-in", data={"token": token}, follow_redirects=False)
        assert signed_in.status_code == 303, signed_in.text
        cookie = signed_in.cookies[cookie_name("consent")]
        session = f"session-{hashlib.sha256(cookie.encode()).hexdigest()[:12]}"
        if not sign_out:
            return session, "fi.lupa.consent.session.opened", lambda d: d["role"] == "cx"
        page = await consent.get("/cx?lang=en")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        out = await consent.post("/cx/sign-out", data={"csrf": csrf}, follow_redirects=False)
        assert out.status_code == 303, out.text
        return session, "fi.lupa.consent.session.closed", lambda d: d["role"] == "cx"
    finally:
        consent.document = document
        consent.cookies.clear()  # no session left behind for the client's other tests


async def cx_sign_out(consent, auth, new_id, engine) -> Expected:
    return await cx_session(consent, auth, new_id, engine, sign_out=True)


async def _preference_centre(consent, auth, new_id, action, fields):
    """A customer signed in to the preference centre posts one of its forms."""
    import httpx

    from tests.api.pages.preferences.conftest import customer, signed_in

    key, ext = await customer(consent, auth, new_id)
    browser = httpx.AsyncClient(transport=consent._transport, base_url=str(consent.base_url))
    page = await signed_in(browser, consent, auth, ext)
    form = page.form(action, key if action.endswith("consents") else None)
    resp = await browser.post(action, data={**form, **fields})
    assert resp.status_code in (200, 303), resp.text
    subject = (await consent.get(f"/v1/subjects/{ext}", headers=auth("admin"))).json()
    return key, subject["id"]


async def centre_consents(consent, auth, new_id, engine) -> Expected:
    key, subject = await _preference_centre(
        consent, auth, new_id, "/preferences/consents", {"channel": ["email"]}
    )
    return subject, "fi.lupa.consent.consent.withdrawn", lambda d: d["purpose"] == key


async def centre_less(consent, auth, new_id, engine) -> Expected:
    _, subject = await _preference_centre(
        consent, auth, new_id, "/preferences/less", {"frequency_email": "weekly"}
    )
    return subject, "fi.lupa.consent.preference.send_less", lambda d: True


async def centre_settings(consent, auth, new_id, engine) -> Expected:
    _, subject = await _preference_centre(
        consent, auth, new_id, "/preferences/settings", {"stop_all": "on"}
    )
    return (
        subject,
        "fi.lupa.consent.preference.changed",
        lambda d: d["values"].get("marketing_opt_out"),
    )


async def centre_sign_out(consent, auth, new_id, engine) -> Expected:
    _, subject = await _preference_centre(consent, auth, new_id, "/preferences/sign-out", {})
    return subject, "fi.lupa.consent.session.closed", lambda d: d["page"] == "preferences"


async def exchange_token(consent, auth, new_id, engine) -> Expected:
    subject = await make_subject(consent, auth, new_id("walk"))
    backend = auth("portal")["Authorization"].removeprefix("Bearer ")
    resp = await consent.post(
        "/v1/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": backend,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "subject": subject["external_id"],
        },
    )
    assert resp.status_code == 200, resp.text
    return subject["id"], "fi.lupa.consent.token.exchanged", lambda d: d["subject_known"]


SCENARIOS: dict[tuple[str, str], Callable[..., Awaitable[Expected]]] = {
    ("POST", "/v1/token"): exchange_token,
    ("PUT", "/v1/purposes/{key:str}"): put_purpose,
    ("PUT", "/v1/subjects/{external_id:str}"): put_subject,
    ("POST", "/v1/subjects/{external_id:str}/consents"): post_consent,
    ("PATCH", "/v1/subjects/{external_id:str}/preferences"): patch_preferences,
    ("POST", "/v1/confirm/{token:str}"): confirm_double_opt_in,
    ("POST", "/v1/audit/webhooks"): create_webhook,
    ("DELETE", "/v1/audit/webhooks/{subscription_id:uuid}"): delete_webhook,
    ("POST", "/v1/audit/dead-letters/{dead_letter_id:uuid}/replay"): replay_dead_letter,
    ("POST", "/v1/unsubscribe/{token:str}"): one_click_unsubscribe,
    ("POST", "/v1/connector"): connector_job,
    ("POST", "/cx/sign-in"): cx_session,
    ("POST", "/cx/sign-out"): cx_sign_out,
    ("POST", "/preferences/consents"): centre_consents,
    ("POST", "/preferences/less"): centre_less,
    ("POST", "/preferences/settings"): centre_settings,
    ("POST", "/preferences/sign-out"): centre_sign_out,
}


def write_routes(app) -> set[tuple[str, str]]:
    return {
        (m, p) for m, p, _ in route_roles(app) if m in WRITE_METHODS and p not in READ_ONLY_POSTS
    }


def test_every_write_route_has_a_scenario(consent_app):
    missing = write_routes(consent_app) - SCENARIOS.keys()
    assert not missing, f"write routes without an audit-event scenario: {sorted(missing)}"


async def test_every_write_endpoint_puts_its_event_in_the_feed(
    consent, auth, new_id, consent_app, engine
):
    absent = []
    for route, scenario in SCENARIOS.items():
        if route not in write_routes(consent_app):
            continue
        expected = await scenario(consent, auth, new_id, engine)
        if not await feed_has(consent, auth, expected):
            absent.append(f"{route}: no {expected[1]}")
    assert not absent, absent
