"""The batch answer is written per subject from per-decision halves: the same bytes as msgspec."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec

from services.consent.api.check import BatchItem, BatchResults, encode_batch
from services.consent.domain.check import CheckDecision

YES = CheckDecision(True, (), 3, "consent", None, datetime(2026, 12, 7, 6, 0, tzinfo=UTC))
NO = CheckDecision(False, ("withdrawn", "channel_off"), 2, "consent", None, None)
UNKNOWN = CheckDecision(False, ("unknown_subject", "unknown_purpose"), None, None, None, None)


def test_the_batch_answer_is_what_msgspec_writes_for_batch_results() -> None:
    subjects = ["plain", 'quote"d', "back\\slash", "ääkköset", "tab\tand\u2028", "plain"]
    answers = [
        (YES, uuid.uuid4()),
        (NO, uuid.uuid4()),
        (UNKNOWN, None),
        (YES, uuid.uuid4()),
        (NO, None),
        (YES, uuid.uuid4()),
    ]
    expected = BatchResults(
        [
            BatchItem(
                s,
                allowed=d.allowed,
                reasons=list(d.reasons),
                purpose_version=d.purpose_version,
                basis=d.basis,
                evidence=e,
                deliver_after=d.deliver_after,
            )
            for s, (d, e) in zip(subjects, answers, strict=True)
        ]
    )
    assert encode_batch(subjects, answers) == msgspec.json.encode(expected)


def test_an_empty_batch_is_an_empty_list() -> None:
    assert encode_batch([], []) == b'{"results":[]}'


def test_ids_with_and_without_commas_encode_alike() -> None:
    answers = [(YES, uuid.uuid4()), (NO, None), (UNKNOWN, None)]
    for subjects in (["a", "b", "c"], ["a,b", "c", "d"], ["a", 'q"uote', "b\\s"]):
        expected = BatchResults(
            [
                BatchItem(
                    s,
                    allowed=d.allowed,
                    reasons=list(d.reasons),
                    purpose_version=d.purpose_version,
                    basis=d.basis,
                    evidence=e,
                    deliver_after=d.deliver_after,
                )
                for s, (d, e) in zip(subjects, answers, strict=True)
            ]
        )
        assert encode_batch(subjects, answers) == msgspec.json.encode(expected)
