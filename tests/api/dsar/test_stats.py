"""``GET /v1/stats`` of the DSAR service: counts for the CX dashboard, no personal data."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("role", ["cx", "officer", "admin"])
async def test_stats_count_requests_per_type_and_status(dsar, auth, new_id, role):
    subject = new_id("cust")
    before = (await dsar.get("/v1/stats?weeks=4", headers=auth(role))).json()
    filed = await dsar.post(
        "/v1/requests", json={"type": "restriction"}, headers=auth("portal", subject)
    )
    assert filed.status_code == 201, filed.text
    resp = await dsar.get("/v1/stats?weeks=4", headers=auth(role))
    assert resp.status_code == 200
    body = resp.json()
    assert body["weeks"] == 4 and body["overdue"] >= 0

    def count(stats):
        return sum(
            r["count"]
            for r in stats["requests"]
            if r["type"] == "restriction" and r["status"] == "received"
        )

    assert count(body) == count(before) + 1
    assert subject not in resp.text and filed.json()["id"] not in resp.text


@pytest.mark.parametrize("role", ["marketing", "portal"])
async def test_other_roles_may_not_read_stats(dsar, auth, role):
    resp = await dsar.get("/v1/stats", headers=auth(role, "cust-x" if role == "portal" else None))
    assert resp.status_code == 403


async def test_a_period_out_of_range_is_a_problem(dsar, auth):
    resp = await dsar.get("/v1/stats?weeks=0", headers=auth("cx"))
    assert resp.status_code in (400, 422)
    assert resp.headers["content-type"].startswith("application/problem+json")
