"""The catalogue states recipients and retention (Art. 15(1)(c),(d)), which access reports."""

from __future__ import annotations

from tests.ledger_helpers import PURPOSE, make_purpose


async def test_recipients_and_retention_are_stored_and_returned(connector, auth, new_id):
    key = new_id("p")
    await make_purpose(
        connector, auth, key, recipients=["Mailer Oy", "Analytics"], retention_days=365
    )
    got = (await connector.get(f"/v1/purposes/{key}", headers=auth("officer"))).json()
    assert got["recipients"] == ["Mailer Oy", "Analytics"] and got["retention_days"] == 365


async def test_a_purpose_without_them_has_no_recipients_and_no_stated_retention(
    connector, auth, new_id
):
    saved = await make_purpose(connector, auth, new_id("p"))
    assert saved["recipients"] == [] and saved["retention_days"] is None


async def test_a_retention_of_zero_days_is_refused(connector, auth, new_id):
    resp = await connector.put(
        f"/v1/purposes/{new_id('p')}", json={**PURPOSE, "retention_days": 0}, headers=auth("admin")
    )
    assert resp.status_code in (400, 422)
