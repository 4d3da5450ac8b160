"""Preferences under contention, and the audit events each change leaves behind."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from tests.concurrency import race


async def new_subject(consent, auth, new_id) -> tuple[str, str]:
    ext = new_id("cust")
    resp = await consent.put(f"/v1/subjects/{ext}", json={"locale": "en"}, headers=auth("admin"))
    assert resp.status_code == 201, resp.text
    return ext, resp.json()["id"]


def url(ext: str) -> str:
    return f"/v1/subjects/{ext}/preferences"


async def events(session_factory, subject_id: str) -> list[tuple[str, dict]]:
    async with session_factory() as session:
        rows = await session.execute(
            text(
                "SELECT type, data FROM audit_events "
                "WHERE subject = :s AND type LIKE '%.preference.%' "
                "ORDER BY time, id"
            ),
            {"s": str(uuid.UUID(subject_id))},
        )
        return [(r.type, r.data) for r in rows]


async def test_concurrent_patches_with_one_etag_let_exactly_one_win(consent, auth, new_id):
    ext, _ = await new_subject(consent, auth, new_id)
    await consent.patch(
        url(ext), json={"language": "fi"}, headers={**auth("admin"), "If-Match": "*"}
    )
    frequencies = ["daily", "weekly", "monthly", "daily", "weekly", "monthly"]
    raced = await race(
        consent,
        (
            consent.build_request(
                "PATCH",
                url(ext),
                json={"channels": {"email": {"frequency": f}}},
                headers={**auth("admin"), "If-Match": '"1"'},
            )
            for f in frequencies
        ),
    )
    assert raced.most_in_flight > 1, "the patches did not overlap"
    responses = raced.responses
    assert raced.statuses() == [200] + [412] * (len(frequencies) - 1)
    winner = next(r for r in responses if r.status_code == 200)
    got = await consent.get(url(ext), headers=auth("admin"))
    assert got.headers["etag"] == '"2"'
    assert got.json()["channels"]["email"] == winner.json()["channels"]["email"]


async def test_each_change_records_which_fields_moved(consent, auth, new_id, session_factory):
    ext, subject_id = await new_subject(consent, auth, new_id)
    resp = await consent.patch(
        url(ext),
        json={"channels": {"sms": {"enabled": False}}, "language": "fi"},
        headers={**auth("portal", ext), "If-Match": '"0"'},
    )
    assert resp.status_code == 200
    recorded = await events(session_factory, subject_id)
    assert [t for t, _ in recorded] == ["fi.lupa.consent.preference.changed"]
    data = recorded[0][1]
    assert data["fields"] == ["channels.sms.enabled", "language"]
    assert data["values"] == {"channels.sms.enabled": False, "language": "fi"}
    assert data["version"] == 1 and data["send_less"] == [] and data["actor"].startswith("portal:")


async def test_send_me_less_is_recorded_as_its_own_event(consent, auth, new_id, session_factory):
    ext, subject_id = await new_subject(consent, auth, new_id)
    patch = {
        "channels": {"email": {"frequency": "monthly"}},
        "paused_until": "2099-06-01T00:00:00Z",
    }
    resp = await consent.patch(
        url(ext), json=patch, headers={**auth("portal", ext), "If-Match": "*"}
    )
    assert resp.status_code == 200
    recorded = dict(await events(session_factory, subject_id))
    less = recorded["fi.lupa.consent.preference.send_less"]
    assert less["reasons"] == ["frequency_reduced", "paused"]
    assert less["values"] == {
        "channels.email.frequency": "monthly",
        "paused_until": "2099-06-01T00:00:00Z",
    }


async def test_quiet_hours_timezone_stays_out_of_the_audit_trail(
    consent, auth, new_id, session_factory
):
    ext, subject_id = await new_subject(consent, auth, new_id)
    qh = {"start": "21:00", "end": "08:00", "timezone": "Europe/Helsinki"}
    await consent.patch(
        url(ext), json={"quiet_hours": qh}, headers={**auth("admin"), "If-Match": "*"}
    )
    [(_, data)] = await events(session_factory, subject_id)
    assert data["fields"] == ["quiet_hours"] and "Helsinki" not in str(data)


async def test_coming_back_from_no_marketing_is_an_explicit_recorded_act(
    consent, auth, new_id, session_factory
):
    ext, subject_id = await new_subject(consent, auth, new_id)
    portal = auth("portal", ext)
    await consent.patch(
        url(ext), json={"marketing_opt_out": True}, headers={**portal, "If-Match": "*"}
    )
    other = await consent.patch(
        url(ext),
        json={"channels": {"email": {"enabled": True}}, "marketing_opt_out": None},
        headers={**portal, "If-Match": "*"},
    )
    assert other.status_code == 422  # null never resets the opt-out
    back = await consent.patch(
        url(ext), json={"marketing_opt_out": False}, headers={**portal, "If-Match": "*"}
    )
    assert back.status_code == 200 and back.json()["marketing_opt_out"] is False
    recorded = [d for _, d in await events(session_factory, subject_id)]
    assert [d["values"] for d in recorded] == [
        {"marketing_opt_out": True},
        {"marketing_opt_out": False},
    ]
    assert [d["marketing_resumed"] for d in recorded] == [False, True]


async def test_a_patch_that_changes_nothing_records_nothing(consent, auth, new_id, session_factory):
    ext, subject_id = await new_subject(consent, auth, new_id)
    resp = await consent.patch(
        url(ext),
        json={"channels": {"email": {"enabled": True}}},
        headers={**auth("admin"), "If-Match": '"0"'},
    )
    assert resp.status_code == 200 and resp.headers["etag"] == '"0"'
    assert await events(session_factory, subject_id) == []
