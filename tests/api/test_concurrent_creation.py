"""Two callers creating the same subject or purpose at the same moment: one row, one creation."""

from __future__ import annotations

from sqlalchemy import text

from tests.concurrency import race
from tests.ledger_helpers import PURPOSE

CREATORS = 6


async def audit_types(session_factory, where: str, value: str) -> list[str]:
    async with session_factory() as session:
        rows = await session.execute(
            text(f"SELECT type FROM audit_events WHERE {where} ORDER BY time, id"), {"v": value}
        )
        return [".".join(r.type.split(".")[-2:]) for r in rows]


async def count(session_factory, sql: str, value: str) -> int:
    async with session_factory() as session:
        return (await session.execute(text(sql), {"v": value})).scalar_one()


async def test_creating_one_subject_from_many_requests_at_once_makes_one_subject(
    consent, auth, new_id, session_factory
):
    ext = new_id("cust")
    body = {"email": f"{ext}@example.com", "locale": "fi"}
    raced = await race(
        consent,
        (
            consent.build_request("PUT", f"/v1/subjects/{ext}", json=body, headers=auth("admin"))
            for _ in range(CREATORS)
        ),
    )
    assert raced.most_in_flight > 1, "the creators did not overlap"
    assert raced.statuses() == [200] * (CREATORS - 1) + [201], [r.text for r in raced.responses]
    ids = {r.json()["id"] for r in raced.responses}
    assert len(ids) == 1 and all(r.json()["email"] == body["email"] for r in raced.responses)
    rows = "SELECT count(*) FROM subjects WHERE external_id = :v"
    assert await count(session_factory, rows, ext) == 1
    assert (
        await count(
            session_factory,
            "SELECT count(*) FROM subject_keys k JOIN subjects s ON s.id = k.subject_id "
            "WHERE s.external_id = :v",
            ext,
        )
        == 1
    )
    [subject_id] = ids
    assert await audit_types(session_factory, "subject = :v", subject_id) == ["subject.created"]


async def test_a_creator_that_loses_the_race_is_applied_as_an_update(consent, auth, new_id):
    ext = new_id("cust")
    names = ["Anna Virtanen", "Aino Korhonen"]
    raced = await race(
        consent,
        (
            consent.build_request(
                "PUT", f"/v1/subjects/{ext}", json={"name": name}, headers=auth("admin")
            )
            for name in names
        ),
    )
    assert raced.statuses() == [200, 201], [r.text for r in raced.responses]
    updated = next(r for r in raced.responses if r.status_code == 200)
    stored = (await consent.get(f"/v1/subjects/{ext}", headers=auth("admin"))).json()
    assert stored["name"] == updated.json()["name"]


async def test_creating_one_purpose_from_many_requests_at_once_makes_one_purpose(
    consent, auth, new_id, session_factory
):
    key = new_id("news")
    raced = await race(
        consent,
        (
            consent.build_request("PUT", f"/v1/purposes/{key}", json=PURPOSE, headers=auth("admin"))
            for _ in range(CREATORS)
        ),
    )
    assert raced.most_in_flight > 1, "the creators did not overlap"
    assert raced.statuses() == [200] * (CREATORS - 1) + [201], [r.text for r in raced.responses]
    assert all(r.json()["version"] == 1 for r in raced.responses)
    versions = "SELECT count(*) FROM purpose_versions WHERE purpose_key = :v"
    assert await count(session_factory, versions, key) == 1
    events = await audit_types(session_factory, "data->>'purpose' = :v", key)
    assert events == ["purpose.created"]


async def test_a_purpose_creator_that_loses_the_race_makes_the_next_version(consent, auth, new_id):
    key = new_id("news")
    titles = ["Newsletter", "Our newsletter"]
    raced = await race(
        consent,
        (
            consent.build_request(
                "PUT",
                f"/v1/purposes/{key}",
                json={**PURPOSE, "title": {"en": title}},
                headers=auth("admin"),
            )
            for title in titles
        ),
    )
    assert raced.statuses() == [200, 201], [r.text for r in raced.responses]
    versioned = next(r for r in raced.responses if r.status_code == 200).json()
    assert versioned["version"] == 2
    stored = (await consent.get(f"/v1/purposes/{key}", headers=auth("admin"))).json()
    assert stored["title"] == versioned["title"] and stored["version"] == 2
