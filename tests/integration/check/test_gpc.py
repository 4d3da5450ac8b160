"""Sec-GPC: 1 on a portal write objects to every sale/sharing purpose; checks then say no."""

from __future__ import annotations

from services.consent.service.evidence import Evidence
from services.consent.service.gpc import gpc_requested, record_gpc_objection
from services.consent.service.receipts import LedgerContext
from services.consent.settings import ControllerSettings
from shared.db.engine import session_scope
from tests.api.check.helpers import check, granted
from tests.ledger_helpers import make_purpose, make_subject


async def portal_write_with_gpc(
    consent, auth, ext: str, purpose: str, channel: str = "email", action: str = "grant"
):
    """A consent write from the person's own browser with Global Privacy Control on."""
    return await consent.post(
        f"/v1/subjects/{ext}/consents",
        headers={**auth("portal", ext), "Sec-GPC": "1"},
        json={"purpose": purpose, "channel": channel, "action": action},
    )


def test_only_a_portal_write_with_gpc_set_counts() -> None:
    assert gpc_requested({"sec-gpc": "1"}, "portal")
    assert not gpc_requested({"sec-gpc": "0"}, "portal")
    assert not gpc_requested({}, "portal")
    assert not gpc_requested({"sec-gpc": "1"}, "admin")


async def test_gpc_objects_to_sale_and_sharing_but_not_to_other_purposes(
    consent, auth, new_id, session_factory, keyring
):
    shared_key, ext, _ = await granted(consent, auth, new_id, sale_or_sharing=True)
    plain = new_id("plain")
    await make_purpose(consent, auth, plain)
    await consent.post(
        f"/v1/subjects/{ext}/consents",
        headers=auth("admin"),
        json={"purpose": plain, "channel": "email", "action": "grant"},
    )
    context = LedgerContext.from_settings("http://testserver.local", ControllerSettings())
    async with session_scope(session_factory) as session:
        objected = await record_gpc_objection(
            session, keyring, context, ext, "portal:test", Evidence("127.0.0.1", "test")
        )
    assert shared_key in objected and plain not in objected
    result = await check(consent, auth, ext, shared_key)
    assert result["allowed"] is False and result["reasons"] == ["objected"]
    assert (await check(consent, auth, ext, plain))["allowed"] is True
    async with session_scope(session_factory) as session:  # a second signal adds nothing
        again = await record_gpc_objection(
            session, keyring, context, ext, "portal:test", Evidence(None, None)
        )
    assert shared_key not in again


async def test_a_portal_write_with_sec_gpc_objects_over_http(consent, auth, new_id):
    shared_key, ext, _ = await granted(consent, auth, new_id, sale_or_sharing=True)
    plain = new_id("plain")
    await make_purpose(consent, auth, plain)
    resp = await portal_write_with_gpc(consent, auth, ext, plain)
    assert resp.status_code == 201, resp.text
    assert (await check(consent, auth, ext, shared_key))["reasons"] == ["objected"]
    assert (await check(consent, auth, ext, plain))["allowed"] is True
    history = await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("admin"))
    objections = [e for e in history.json() if e["action"] == "object"]
    assert objections and objections[0]["source"] == "gpc"


async def test_the_signal_also_covers_sale_or_sharing_purposes_added_after_it(
    consent, auth, new_id
):
    plain = new_id("plain")
    await make_purpose(consent, auth, plain)
    ext = new_id("cust")
    await make_subject(consent, auth, ext)
    resp = await portal_write_with_gpc(consent, auth, ext, plain)
    assert resp.status_code == 201, resp.text
    later = new_id("ads")  # needs no consent: only an objection stops it
    await make_purpose(
        consent, auth, later, legal_basis="legitimate_interest", sale_or_sharing=True
    )
    assert (await check(consent, auth, ext, later))["reasons"] == ["objected"]
    assert (await check(consent, auth, ext, plain))["allowed"] is True
    history = await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("admin"))
    assert not [e for e in history.json() if e["purpose_key"] == later]  # no ledger row needed


async def test_a_grant_given_after_the_signal_is_honoured(consent, auth, new_id):
    shared_key, ext, _ = await granted(consent, auth, new_id, sale_or_sharing=True)
    resp = await portal_write_with_gpc(
        consent, auth, ext, shared_key, channel="sms", action="withdraw"
    )
    assert resp.status_code == 201, resp.text
    assert (await check(consent, auth, ext, shared_key))["reasons"] == ["objected"]
    # Later, without the signal, the person grants again: a new affirmative act wins.
    again = await consent.post(
        f"/v1/subjects/{ext}/consents",
        headers=auth("portal", ext),
        json={"purpose": shared_key, "channel": "email", "action": "grant"},
    )
    assert again.status_code == 201, again.text
    assert (await check(consent, auth, ext, shared_key))["allowed"] is True


async def test_the_first_signal_is_kept_with_its_audit_event(consent, auth, new_id):
    plain = new_id("plain")
    await make_purpose(consent, auth, plain)
    ext = new_id("cust")
    subject = await make_subject(consent, auth, ext)
    for _ in range(2):
        resp = await portal_write_with_gpc(consent, auth, ext, plain)
        assert resp.status_code == 201, resp.text
    feed = await consent.get(
        "/v1/audit/events",
        params={"subject": subject["id"], "limit": 100},
        headers=auth("cx"),
    )
    signals = [e for e in feed.json()["events"] if e["type"].endswith("subject.gpc_signal")]
    assert len(signals) == 1 and set(signals[0]["data"]) == {"actor"}


async def test_gpc_on_a_preference_or_subject_write_objects_too(consent, auth, new_id):
    for write in ("preferences", "subject"):
        shared_key, ext, _ = await granted(consent, auth, new_id, sale_or_sharing=True)
        headers = {**auth("portal", ext), "Sec-GPC": "1"}
        if write == "preferences":
            resp = await consent.patch(
                f"/v1/subjects/{ext}/preferences",
                json={"channels": {"email": {"frequency": "weekly"}}},
                headers={**headers, "If-Match": "*"},
            )
        else:
            resp = await consent.put(f"/v1/subjects/{ext}", json={"locale": "fi"}, headers=headers)
        assert resp.status_code == 200, resp.text
        assert (await check(consent, auth, ext, shared_key))["reasons"] == ["objected"], write
