"""PATCH preferences with a pause too far ahead: a 422 naming the field, never a 500."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "paused_until", ["9999-12-31T23:59:59-05:00", "9999-12-31T23:59:59Z", "2200-01-01T00:00:00Z"]
)
async def test_a_pause_past_the_horizon_is_422_and_changes_nothing(
    consent, auth, new_id, paused_until
):
    ext = new_id("cust")
    url = f"/v1/subjects/{ext}/preferences"
    await consent.put(f"/v1/subjects/{ext}", json={"locale": "en"}, headers=auth("admin"))
    resp = await consent.patch(
        url, json={"paused_until": paused_until}, headers={**auth("portal", ext), "If-Match": "*"}
    )
    assert resp.status_code == 422, resp.text
    problem = resp.json()
    assert problem["type"] == "urn:lupa:problem:invalid-input"
    assert problem["field"] == "paused_until" and "years ahead" in problem["detail"]
    after = await consent.get(url, headers=auth("admin"))
    assert after.headers["etag"] == '"0"' and after.json()["paused_until"] is None
