"""Gauges read from PostgreSQL at scrape time: DSAR requests, overdue, jobs; the audit outbox."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from tests.api.metrics.scrape import value


async def file_request(dsar, auth, new_id) -> str:  # type: ignore[no-untyped-def]
    resp = await dsar.post(
        "/v1/requests", json={"type": "restriction"}, headers=auth("portal", new_id("cust"))
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def test_dsar_status_gauges_follow_the_requests_filed(dsar, auth, new_id, scrape):
    before = await scrape(dsar)
    filed = [await file_request(dsar, auth, new_id) for _ in range(2)]
    after = await scrape(dsar)
    received = {"status": "received"}
    assert value(after, "lupa_dsar_requests", **received) == (
        value(before, "lupa_dsar_requests", **received) + 2
    )
    assert value(after, "lupa_dsar_requests", status="withdrawn") >= 0
    assert not any(request_id in after for request_id in filed)


async def test_an_overdue_request_is_counted(dsar, auth, new_id, scrape, engine):
    request_id = await file_request(dsar, auth, new_id)
    before = value(await scrape(dsar), "lupa_dsar_requests_overdue")
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE dsar_requests SET due_at = now() - interval '1 day' WHERE id = :id"),
            {"id": uuid.UUID(request_id)},
        )
    assert value(await scrape(dsar), "lupa_dsar_requests_overdue") == before + 1


async def test_unchained_audit_events_show_as_outbox_lag(consent, auth, new_id, scrape):
    # No relay runs beside the test apps, so every write's event waits in the outbox.
    labels = {"service": "consent"}
    before = value(await scrape(consent), "lupa_audit_unchained_events", **labels)
    subject = new_id("lag")
    resp = await consent.put(
        f"/v1/subjects/{subject}", json={"email": f"{subject}@x.fi"}, headers=auth("admin")
    )
    assert resp.status_code in (200, 201)
    after = await scrape(consent)
    assert value(after, "lupa_audit_unchained_events", **labels) == before + 1
    assert value(after, "lupa_audit_unchained_oldest_age_seconds", **labels) >= 0
