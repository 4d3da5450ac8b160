"""Concurrent grants and withdrawals for one subject: nothing lost, projection equals the ledger."""

from __future__ import annotations

from sqlalchemy import text

from tests.concurrency import race
from tests.ledger_helpers import scene


async def test_racing_grants_and_withdrawals_end_consistent(consent, auth, new_id, session_factory):
    key, ext = await scene(consent, auth, new_id)
    actions = ["grant", "withdraw"] * 15
    raced = await race(
        consent,
        (
            consent.build_request(
                "POST",
                f"/v1/subjects/{ext}/consents",
                json={"purpose": key, "channel": "email", "action": action},
                headers=auth("admin"),
            )
            for action in actions
        ),
    )
    assert raced.most_in_flight > 1, "the writes did not overlap"
    results = raced.responses
    acknowledged = {r.json()["event"]["event_id"] for r in results if r.status_code == 201}
    assert all(r.status_code == 201 for r in results), [
        r.text for r in results if r.status_code != 201
    ]
    async with session_factory() as session:
        ledger = (
            await session.execute(
                text(
                    "SELECT e.id, e.event_id::text, e.state FROM consent_events e "
                    "JOIN subjects s ON s.id = e.subject_id "
                    "WHERE s.external_id = :ext ORDER BY e.id"
                ),
                {"ext": ext},
            )
        ).all()
        state = (
            await session.execute(
                text(
                    "SELECT c.state, c.last_event_id FROM consent_state c "
                    "JOIN subjects s ON s.id = c.subject_id WHERE s.external_id = :ext"
                ),
                {"ext": ext},
            )
        ).one()
    assert {row.event_id for row in ledger} == acknowledged and len(ledger) == len(actions)
    assert state.last_event_id == ledger[-1].id and state.state == ledger[-1].state
    listed = (await consent.get(f"/v1/subjects/{ext}/consents", headers=auth("admin"))).json()
    assert listed[0]["state"] == ledger[-1].state


async def test_every_ledger_write_records_an_audit_event_without_plain_text(
    consent, auth, new_id, session_factory
):
    key, ext = await scene(consent, auth, new_id)
    await consent.post(
        f"/v1/subjects/{ext}/consents",
        headers=auth("admin"),
        json={"purpose": key, "channel": "email", "action": "withdraw", "reason": "secret words"},
    )
    async with session_factory() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT a.type, a.data::text AS data, e.ip_hash, e.ua_hash, e.reason_ct "
                    "FROM consent_events e JOIN subjects s ON s.id = e.subject_id "
                    "JOIN audit_events a ON a.data->>'ledger_event_id' = e.event_id::text "
                    "WHERE s.external_id = :ext"
                ),
                {"ext": ext},
            )
        ).all()
    assert len(rows) == 1
    row = rows[0]
    assert row.type.endswith("consent.withdrawn")
    assert "reason_sealed" in row.data and "secret words" not in row.data
    assert len(row.ip_hash) == 32 and len(row.ua_hash) == 32
    assert b"secret words" not in row.reason_ct
