"""A batch decides each distinct case once: subjects with equal cases get equal decisions.

``consent_case`` claims to capture everything ``decide`` reads of a consent and the GPC signal
at one instant. Random facts, with grant times and signals clustered around the validity and
GPC cut-offs, check the claim: whenever two facts have the same case, their decisions are the
same apart from the evidence.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.consent.domain.check import (
    CheckFacts,
    Consent,
    Preferences,
    Purpose,
    consent_case,
    decide,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STATES = ("granted", "pending", "withdrawn", "expired", "objected")
BASES = ("consent", "legitimate_interest", "contract")


def some_purpose(rng: random.Random) -> Purpose:
    return Purpose(
        legal_basis=rng.choice(BASES),
        channels=("email", "sms"),
        validity_days=rng.choice((None, 1, 30)),
        min_age=rng.choice((None, 13)),
        current_version=3,
        min_accepted_version=rng.choice((1, 2, 3)),
        sale_or_sharing=rng.random() < 0.5,
    )


def near_a_cutoff(rng: random.Random) -> datetime:
    """An instant a few seconds either side of a one-day or thirty-day validity, or of a signal."""
    days = rng.choice((0, 1, 30))
    return NOW - timedelta(days=days, seconds=rng.randint(-3, 3))


def some_consent(rng: random.Random) -> Consent | None:
    if rng.random() < 0.2:
        return None
    granted_at = None if rng.random() < 0.1 else near_a_cutoff(rng)
    return Consent(
        rng.choice(STATES),
        rng.choice((1, 2, 3)),
        granted_at,
        uuid.uuid4(),
        rng.choice(("subject", "guardian")),
    )


def some_facts(rng: random.Random) -> CheckFacts:
    return CheckFacts(
        subject_known=True,
        purpose=some_purpose(rng),
        consent=some_consent(rng),
        preferences=Preferences(frequency=rng.choice(("immediately", "weekly"))),
        age=rng.choice((None, 10, 30)),
        gpc_at=None if rng.random() < 0.4 else near_a_cutoff(rng),
    )


def regranted(rng: random.Random, facts: CheckFacts) -> CheckFacts:
    """The same facts with another grant time, event id and GPC signal."""
    consent = facts.consent
    if consent is not None:
        granted_at = None if rng.random() < 0.1 else near_a_cutoff(rng)
        consent = consent._replace(granted_at=granted_at, event_id=uuid.uuid4())
    gpc_at = None if rng.random() < 0.4 else near_a_cutoff(rng)
    return replace(facts, consent=consent, gpc_at=gpc_at)


def test_facts_with_the_same_case_get_the_same_decision() -> None:
    rng = random.Random(20261201)
    compared = differed = 0
    for _ in range(20_000):
        one = some_facts(rng)
        other = regranted(rng, one)
        case = consent_case(one.purpose, one.consent, one.gpc_at, NOW)
        if case != consent_case(other.purpose, other.consent, other.gpc_at, NOW):
            differed += 1
            continue
        compared += 1
        first, second = decide(one, "email", None, NOW), decide(other, "email", None, NOW)
        assert first._replace(evidence=None) == second._replace(evidence=None), (one, other)
    # Both sides of the claim were exercised many times.
    assert compared > 5_000 and differed > 2_000
