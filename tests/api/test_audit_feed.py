"""The CX feed: every write shows up as a CloudEvent, in order, pageable and live."""

from __future__ import annotations

import json

from tests.cloudevents_judge import assert_sequences_sort_like_numbers, judged
from tests.ledger_helpers import post_consent, scene

PURPOSE = {"legal_basis": "consent", "title": {"en": "News"}, "channels": ["email"]}
CREATED = "fi.lupa.consent.purpose.created"


async def _all_events(consent, headers, **params):
    events, cursor = [], "0"
    for _ in range(1000):
        page = (
            await consent.get(
                "/v1/audit/events",
                params={"after": cursor, "limit": 1000, **params},
                headers=headers,
            )
        ).json()
        events += page["events"]
        if not page["events"]:
            return events, cursor
        cursor = page["next"]
    raise AssertionError("feed never ended")


async def test_a_new_purpose_appears_in_the_feed_as_a_cloudevent(consent, auth, new_id):
    key = new_id("feed")
    await consent.put(f"/v1/purposes/{key}", json=PURPOSE, headers=auth("admin"))
    events, _ = await _all_events(consent, auth("cx"), type="consent.purpose.created")
    mine = [e for e in events if e["data"]["purpose"] == key]
    assert len(mine) == 1
    event = mine[0]
    assert event["specversion"] == "1.0" and event["source"] == "/lupa/consent"
    assert event["type"] == CREATED and event["datacontenttype"] == "application/json"
    assert {"id", "time", "sequence", "recordedtime", "hash", "prevhash"} <= event.keys()
    judged(json.dumps(event))  # the SDK reads it; string sequence; recordedtime >= time


async def test_every_event_in_the_feed_is_a_cloudevent_whose_sequence_sorts_as_text(
    consent, auth, new_id
):
    for _ in range(10):  # at least ten events, so sequences 9 and 10 are both there
        await consent.put(f"/v1/purposes/{new_id('seq')}", json=PURPOSE, headers=auth("admin"))
    events, _ = await _all_events(consent, auth("cx"))
    assert len(events) >= 10
    for event in events:
        judged(json.dumps(event))
    assert_sequences_sort_like_numbers(events)
    assert [int(e["sequence"]) for e in events] == list(range(1, len(events) + 1))


async def test_an_events_own_sequence_works_as_the_after_cursor(consent, auth, new_id):
    for _ in range(2):
        await consent.put(f"/v1/purposes/{new_id('after')}", json=PURPOSE, headers=auth("admin"))
    events, _ = await _all_events(consent, auth("cx"))
    before_last = events[-2]["sequence"]  # zero-padded, as the event carries it
    page = await consent.get(f"/v1/audit/events?after={before_last}", headers=auth("cx"))
    assert page.status_code == 200, page.text
    assert [e["id"] for e in page.json()["events"]] == [events[-1]["id"]]
    assert page.json()["next"] == str(int(events[-1]["sequence"]))


async def test_pages_follow_each_other_without_gaps_or_repeats(consent, auth, new_id):
    for _ in range(3):
        await consent.put(f"/v1/purposes/{new_id('page')}", json=PURPOSE, headers=auth("admin"))
    everything, _ = await _all_events(consent, auth("admin"))
    paged, cursor = [], "0"
    while True:
        page = (
            await consent.get(f"/v1/audit/events?after={cursor}&limit=2", headers=auth("admin"))
        ).json()
        if not page["events"]:
            break
        paged += page["events"]
        cursor = page["next"]
    assert [e["sequence"] for e in paged] == [e["sequence"] for e in everything]
    assert [int(e["sequence"]) for e in paged] == list(range(1, len(paged) + 1))


async def test_the_type_filter_takes_the_documented_short_form_and_the_full_type(
    consent, auth, new_id
):
    key, ext = await scene(consent, auth, new_id)
    granted = await post_consent(consent, auth, ext, key)
    assert granted.status_code == 201, granted.text
    subject = (await consent.get(f"/v1/subjects/{ext}", headers=auth("admin"))).json()["id"]
    for spelling in (
        "consent.granted",
        "consent.consent.granted",
        "fi.lupa.consent.consent.granted",
    ):
        events, _ = await _all_events(consent, auth("cx"), type=spelling, subject=subject)
        assert [e["data"]["purpose"] for e in events] == [key], spelling
        assert events[0]["type"] == "fi.lupa.consent.consent.granted"
    events, _ = await _all_events(consent, auth("cx"), type="consent.withdrawn", subject=subject)
    assert events == []


async def test_only_cx_and_admin_read_the_checkpoints(consent, auth):
    for role in ("cx", "admin"):
        page = await consent.get("/v1/audit/checkpoints", headers=auth(role))
        assert page.status_code == 200 and set(page.json()) == {"checkpoints", "next"}
    for role in ("portal", "marketing", "officer"):
        assert (await consent.get("/v1/audit/checkpoints", headers=auth(role))).status_code == 403
    assert (await consent.get("/v1/audit/checkpoints")).status_code == 401


async def test_the_feed_filters_by_subject(consent, auth):
    page = (
        await consent.get("/v1/audit/events?subject=nobody-has-this", headers=auth("cx"))
    ).json()
    assert page == {"events": [], "next": "0"}


async def test_a_cursor_the_feed_never_gave_is_a_problem_not_a_crash(consent, auth):
    bad = await consent.get("/v1/audit/events?after=abc", headers=auth("cx"))
    assert bad.status_code == 422
    assert bad.json()["type"] == "urn:lupa:problem:invalid-input"
    too_many = await consent.get("/v1/audit/events?limit=5000", headers=auth("cx"))
    assert too_many.status_code == 422


async def test_only_cx_and_admin_read_the_feed(consent, auth):
    for role in ("portal", "marketing", "officer"):
        assert (await consent.get("/v1/audit/events", headers=auth(role))).status_code == 403
    assert (await consent.get("/v1/audit/events")).status_code == 401


async def test_the_live_stream_resumes_after_last_event_id(consent, auth, new_id):
    key = new_id("live")
    await consent.put(f"/v1/purposes/{key}", json=PURPOSE, headers=auth("admin"))
    _, last = await _all_events(consent, auth("cx"))
    await consent.put(f"/v1/purposes/{new_id('live')}", json=PURPOSE, headers=auth("admin"))
    headers = {**auth("cx"), "Last-Event-ID": str(int(last) - 1)}
    response = await consent.get("/v1/audit/stream?limit=2&max_seconds=5", headers=headers)
    assert response.headers["content-type"].startswith("text/event-stream")
    ids = [line[4:] for line in response.text.splitlines() if line.startswith("id: ")]
    data = [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")
    ]
    assert [int(i) for i in ids] == [int(last), int(last) + 1]
    assert ids == [d["sequence"] for d in data]  # the id is the event's sequence, as it is
    assert [judged(json.dumps(d)).get_id() for d in data] == [d["id"] for d in data]
    assert data[0]["data"]["purpose"] == key
    resumed = await consent.get(
        "/v1/audit/stream?limit=1&max_seconds=5", headers={**auth("cx"), "Last-Event-ID": ids[0]}
    )
    assert f"id: {ids[1]}" in resumed.text.splitlines()


async def test_the_stream_opens_with_a_comment_and_sends_no_empty_events(consent, auth, new_id):
    # An EventSource dispatches every "data:" block as an event: comments must carry none.
    response = await consent.get(
        f"/v1/audit/stream?max_seconds=0&subject={new_id('nobody')}", headers=auth("cx")
    )
    assert response.status_code == 200
    lines = response.text.splitlines()
    assert lines[0] == ": stream open"
    assert not [line for line in lines if line.startswith("data:")]
