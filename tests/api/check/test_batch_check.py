"""POST /v1/check/batch: one answer per subject, in request order, same rules as a single check."""

from __future__ import annotations

from tests.api.check.helpers import check, granted
from tests.ledger_helpers import make_subject, post_consent


async def batch(consent, auth, key: str, subjects: list[str], **extra):
    return await consent.post(
        "/v1/check/batch",
        json={"purpose": key, "channel": "email", "subjects": subjects, **extra},
        headers=auth("marketing"),
    )


async def test_results_follow_request_order_with_duplicates_and_unknowns(consent, auth, new_id):
    key, yes, _ = await granted(consent, auth, new_id)
    no, ghost = new_id("cust"), new_id("ghost")
    await make_subject(consent, auth, no)
    assert (await post_consent(consent, auth, no, key, action="withdraw")).status_code == 201
    order = [no, yes, ghost, yes, no]
    resp = await batch(consent, auth, key, order)
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert [r["subject"] for r in results] == order
    assert [r["allowed"] for r in results] == [False, True, False, True, False]
    assert results[2]["reasons"] == ["unknown_subject"]
    for item in results:
        single = await check(consent, auth, item["subject"], key)
        assert {k: v for k, v in item.items() if k != "subject"} == single


async def test_a_full_batch_of_ten_thousand_is_answered(consent, auth, new_id):
    key, yes, _ = await granted(consent, auth, new_id)
    subjects = [yes if i % 1000 == 0 else f"unknown-{i:05d}-{'x' * 100}" for i in range(10_000)]
    resp = await batch(consent, auth, key, subjects)
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert len(results) == 10_000 and sum(r["allowed"] for r in results) == 10


async def test_more_than_ten_thousand_is_refused_clearly(consent, auth, new_id):
    resp = await batch(consent, auth, "p", [f"c{i}" for i in range(10_001)])
    assert resp.status_code == 413
    body = resp.json()
    assert body["type"] == "urn:lupa:problem:payload-too-large" and body["max_subjects"] == 10_000


async def test_an_empty_batch_is_an_empty_answer_and_bad_ids_are_422(consent, auth):
    assert (await batch(consent, auth, "p", [])).json() == {"results": []}
    bad = await batch(consent, auth, "p", ["ok", ""])
    assert bad.status_code == 422


async def test_only_senders_may_batch(consent, auth):
    resp = await consent.post(
        "/v1/check/batch",
        json={"purpose": "p", "channel": "email", "subjects": []},
        headers=auth("cx"),
    )
    assert resp.status_code == 403


async def test_alike_subjects_share_a_decision_but_each_keeps_its_own_evidence(
    consent, auth, new_id
):
    key, first, first_event = await granted(consent, auth, new_id, validity_days=30)
    events = {first: first_event}
    for _ in range(4):
        ext = new_id("cust")
        await make_subject(consent, auth, ext)
        resp = await post_consent(consent, auth, ext, key)
        events[ext] = resp.json()["event"]["event_id"]
    withdrawn = new_id("cust")
    await make_subject(consent, auth, withdrawn)
    await post_consent(consent, auth, withdrawn, key)
    await post_consent(consent, auth, withdrawn, key, action="withdraw")
    subjects = [*events, withdrawn, new_id("ghost")]
    results = (await batch(consent, auth, key, subjects)).json()["results"]
    assert [r["evidence"] for r in results[:5]] == list(events.values())
    assert all(r["allowed"] for r in results[:5]) and not results[5]["allowed"]
    for item in results:
        single = await check(consent, auth, item["subject"], key)
        assert {k: v for k, v in item.items() if k != "subject"} == single
