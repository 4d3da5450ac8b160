"""Check decisions are counted by endpoint, allowed and reason."""

from __future__ import annotations

import asyncio

from tests.api.check.helpers import check, granted
from tests.api.metrics.scrape import value
from tests.ledger_helpers import scene

DECISIONS = "lupa_check_decisions_total"
REASONS = "lupa_check_decision_reasons_total"
GATHERED = "lupa_check_gathered_size"


async def test_a_check_counts_its_decision_under_its_reason(consent, auth, new_id, scrape):
    key, ext = await scene(consent, auth, new_id)
    before = await scrape(consent)
    assert (await check(consent, auth, ext, key))["reasons"] == ["never_given"]
    assert (await check(consent, auth, new_id("nobody"), key))["reasons"] == ["unknown_subject"]
    after = await scrape(consent)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    no = {"endpoint": "single", "allowed": "false"}
    assert delta(DECISIONS, **no) == 2
    assert delta(REASONS, **no, reason="never_given") == 1
    assert delta(REASONS, **no, reason="unknown_subject") == 1
    assert delta(DECISIONS, endpoint="single", allowed="true") == 0


async def test_an_allowed_check_counts_as_a_yes_without_reason(consent, auth, new_id, scrape):
    key, ext, _ = await granted(consent, auth, new_id)
    before = await scrape(consent)
    assert (await check(consent, auth, ext, key))["allowed"] is True
    after = await scrape(consent)
    yes = {"endpoint": "single", "allowed": "true"}
    assert value(after, DECISIONS, **yes) == value(before, DECISIONS, **yes) + 1
    assert value(after, REASONS, **yes, reason="none") == (
        value(before, REASONS, **yes, reason="none") + 1
    )


async def test_a_batch_counts_every_subject_it_answers(consent, auth, new_id, scrape):
    key, ext, _ = await granted(consent, auth, new_id)
    strangers = [new_id("stranger") for _ in range(4)]
    before = await scrape(consent)
    resp = await consent.post(
        "/v1/check/batch",
        json={"purpose": key, "channel": "email", "subjects": [ext, *strangers, strangers[0]]},
        headers=auth("marketing"),
    )
    assert resp.status_code == 200, resp.text
    after = await scrape(consent)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(DECISIONS, endpoint="batch", allowed="true") == 1
    assert delta(DECISIONS, endpoint="batch", allowed="false") == 5  # a repeated id answers twice
    assert delta(REASONS, endpoint="batch", allowed="false", reason="unknown_subject") == 5


async def test_an_audience_export_counts_the_subjects_it_lists(consent, auth, new_id, scrape):
    key, _, _ = await granted(consent, auth, new_id)
    before = await scrape(consent)
    resp = await consent.get(f"/v1/audience?purpose={key}&channel=email", headers=auth("marketing"))
    assert resp.status_code == 200
    listed = len(resp.text.splitlines())
    after = await scrape(consent)
    yes = {"endpoint": "audience", "allowed": "true"}
    assert listed >= 1
    assert value(after, DECISIONS, **yes) == value(before, DECISIONS, **yes) + listed


async def test_every_single_check_is_counted_in_exactly_one_gathered_statement(
    consent, auth, new_id, scrape
):
    key, ext, _ = await granted(consent, auth, new_id)
    before = await scrape(consent)
    answers = await asyncio.gather(*(check(consent, auth, ext, key) for _ in range(8)))
    after = await scrape(consent)
    assert all(a["allowed"] for a in answers)
    sent = value(after, f"{GATHERED}_count") - value(before, f"{GATHERED}_count")
    assert value(after, f"{GATHERED}_sum") - value(before, f"{GATHERED}_sum") == 8
    assert 1 <= sent <= 8
