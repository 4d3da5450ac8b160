"""Optimistic consent writes are counted by outcome, and their batches by size."""

from __future__ import annotations

import asyncio

from tests.api.metrics.scrape import value
from tests.ledger_helpers import change_subject_after_read, make_subject, post_consent, scene

OUTCOMES = "lupa_consent_optimistic_writes_total"
SIZES = "lupa_consent_write_batch_size"


async def test_written_refused_and_stale_writes_are_counted_and_batches_sum_to_the_writes(
    consent, auth, new_id, database_url, scrape, monkeypatch
):
    key, ext = await scene(consent, auth, new_id)
    others = [new_id("counted") for _ in range(4)]
    for other in others:
        await make_subject(consent, auth, other)
    before = await scrape(consent)
    answers = await asyncio.gather(*(post_consent(consent, auth, o, key) for o in others))
    assert [a.status_code for a in answers] == [201] * 4
    # A write for a purpose that does not exist is refused on its facts, once: the handler
    # answers it from the locked path without trying the batch again.
    refused = await post_consent(consent, auth, ext, "no-such-purpose")
    assert refused.status_code == 422, refused.text

    # A write whose subject changes right after its read: stale, then written under the lock.
    changed = others[0]
    change_subject_after_read(monkeypatch, database_url, changed)
    assert (await post_consent(consent, auth, changed, key, "withdraw")).status_code == 201
    after = await scrape(consent)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(OUTCOMES, outcome="written") == 4
    assert delta(OUTCOMES, outcome="refused") == 1
    assert delta(OUTCOMES, outcome="stale") == 1
    assert delta(OUTCOMES, outcome="batch_refused") == 0
    # Every optimistic write went in exactly one batch: four, the refused one, the stale one.
    assert delta(f"{SIZES}_sum") == 6
    assert 1 <= delta(f"{SIZES}_count") <= 6
