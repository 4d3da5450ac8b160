"""The decision function: every reason code, and only an empty list of reasons says yes."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.consent.domain import check as c
from services.consent.domain.check import CheckFacts, Consent, Preferences, Purpose, decide

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EVENT = uuid.uuid4()
PURPOSE = Purpose(
    legal_basis="consent",
    channels=("email", "sms"),
    validity_days=None,
    min_age=None,
    current_version=2,
    min_accepted_version=1,
)
GRANTED = Consent("granted", 2, NOW - timedelta(days=10), EVENT, "subject")
ALLOWED = CheckFacts(subject_known=True, purpose=PURPOSE, consent=GRANTED)


def reasons(facts: CheckFacts, channel: str = "email", topic: str | None = None) -> tuple[str, ...]:
    return decide(facts, channel, topic, NOW).reasons


def test_a_live_grant_allows_and_names_its_evidence() -> None:
    decision = decide(ALLOWED, "email", None, NOW)
    assert decision.allowed and decision.reasons == ()
    assert (decision.basis, decision.purpose_version, decision.evidence) == ("consent", 2, EVENT)
    assert decision.deliver_after is None


@pytest.mark.parametrize(
    ("facts", "channel", "topic", "expected"),
    [
        (CheckFacts(subject_known=False, purpose=PURPOSE), "email", None, c.UNKNOWN_SUBJECT),
        (replace(ALLOWED, erased=True), "email", None, c.ERASED),
        (replace(ALLOWED, purpose=None), "email", None, c.UNKNOWN_PURPOSE),
        (ALLOWED, "post", None, c.CHANNEL_NOT_IN_PURPOSE),
        (replace(ALLOWED, restricted=True), "email", None, c.RESTRICTED),
        (replace(ALLOWED, objected=True), "email", None, c.OBJECTED),
        (
            replace(ALLOWED, preferences=Preferences(marketing_opt_out=True)),
            "email",
            None,
            c.MARKETING_OPT_OUT,
        ),
        (replace(ALLOWED, consent=None), "email", None, c.NEVER_GIVEN),
        (replace(ALLOWED, consent=GRANTED._replace(state="pending")), "email", None, c.PENDING),
        (replace(ALLOWED, consent=GRANTED._replace(state="withdrawn")), "email", None, c.WITHDRAWN),
        (replace(ALLOWED, consent=GRANTED._replace(state="expired")), "email", None, c.EXPIRED),
        (replace(ALLOWED, consent=GRANTED._replace(state="objected")), "email", None, c.OBJECTED),
        (replace(ALLOWED, purpose=replace(PURPOSE, validity_days=5)), "email", None, c.EXPIRED),
        (
            replace(ALLOWED, purpose=replace(PURPOSE, min_accepted_version=3)),
            "email",
            None,
            c.VERSION_NOT_ACCEPTED,
        ),
        (
            replace(ALLOWED, preferences=Preferences(channel_enabled=False)),
            "email",
            None,
            c.CHANNEL_OFF,
        ),
        (
            replace(ALLOWED, preferences=Preferences(paused_until=NOW + timedelta(days=1))),
            "email",
            None,
            c.PAUSED,
        ),
        (
            replace(ALLOWED, preferences=Preferences(topics=("running",))),
            "email",
            "cycling",
            c.TOPIC_UNSUBSCRIBED,
        ),
        (
            replace(ALLOWED, purpose=replace(PURPOSE, min_age=16), age=13),
            "email",
            None,
            c.UNDER_AGE,
        ),
        (replace(ALLOWED, purpose=replace(PURPOSE, min_age=16)), "email", None, c.AGE_UNKNOWN),
    ],
)
def test_each_failing_rule_says_no_with_its_reason(
    facts: CheckFacts, channel: str, topic: str | None, expected: str
) -> None:
    decision = decide(facts, channel, topic, NOW)
    assert not decision.allowed
    assert expected in decision.reasons


def test_every_documented_reason_is_reachable_or_the_outage_answer() -> None:
    assert c.unavailable().reasons == (c.UNAVAILABLE,) and not c.unavailable().allowed
    assert len(set(c.REASONS)) == len(c.REASONS)


def test_several_failures_are_all_reported() -> None:
    facts = replace(
        ALLOWED,
        restricted=True,
        consent=None,
        preferences=Preferences(channel_enabled=False, marketing_opt_out=True),
    )
    assert set(reasons(facts)) == {c.RESTRICTED, c.NEVER_GIVEN, c.CHANNEL_OFF, c.MARKETING_OPT_OUT}


def test_a_guardians_consent_meets_the_minimum_age() -> None:
    facts = replace(
        ALLOWED,
        purpose=replace(PURPOSE, min_age=16),
        consent=GRANTED._replace(given_by="guardian"),
        age=12,
    )
    assert decide(facts, "email", None, NOW).allowed


def test_an_old_enough_subject_is_allowed() -> None:
    assert decide(
        replace(ALLOWED, purpose=replace(PURPOSE, min_age=16), age=16), "email", None, NOW
    ).allowed


def test_legitimate_interest_needs_no_consent_but_stops_on_objection() -> None:
    li = replace(ALLOWED, purpose=replace(PURPOSE, legal_basis="legitimate_interest"), consent=None)
    assert decide(li, "email", None, NOW).allowed
    objected = replace(li, consent=GRANTED._replace(state="objected"))
    assert reasons(objected) == (c.OBJECTED,)
    assert c.OBJECTED in reasons(replace(li, objected=True))


def test_a_past_pause_and_a_subscribed_topic_do_not_block() -> None:
    prefs = Preferences(paused_until=NOW - timedelta(minutes=1), topics=("running",))
    assert decide(replace(ALLOWED, preferences=prefs), "email", "running", NOW).allowed


def test_no_topic_choice_means_every_topic() -> None:
    assert decide(ALLOWED, "email", "anything", NOW).allowed


def test_quiet_hours_delay_instead_of_refusing() -> None:
    prefs = Preferences(quiet_start="21:00", quiet_end="08:00", quiet_timezone="Europe/Helsinki")
    late = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)  # 23:30 in Helsinki
    decision = decide(replace(ALLOWED, preferences=prefs), "email", None, late)
    assert decision.allowed
    assert decision.deliver_after == datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # 08:00 local
    noon = decide(replace(ALLOWED, preferences=prefs), "email", None, NOW)
    assert noon.allowed and noon.deliver_after is None


def test_a_window_within_one_day_delays_to_its_end() -> None:
    prefs = Preferences(quiet_start="12:00", quiet_end="14:00", quiet_timezone="UTC")
    decision = decide(replace(ALLOWED, preferences=prefs), "email", None, NOW)
    assert decision.deliver_after == datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [
        ("daily", datetime(2026, 11, 24, tzinfo=UTC)),
        ("weekly", datetime(2026, 11, 30, tzinfo=UTC)),  # 23 Nov 2026 is a Monday
        ("monthly", datetime(2026, 12, 1, tzinfo=UTC)),
    ],
)
def test_a_digest_frequency_delivers_at_the_next_slot(frequency: str, expected: datetime) -> None:
    decision = decide(
        replace(ALLOWED, preferences=Preferences(frequency=frequency)), "email", None, NOW
    )
    assert decision.allowed and decision.deliver_after == expected


def test_a_digest_slot_inside_quiet_hours_waits_for_their_end() -> None:
    prefs = Preferences(
        frequency="daily", quiet_start="22:00", quiet_end="07:00", quiet_timezone="UTC"
    )
    decision = decide(replace(ALLOWED, preferences=prefs), "email", None, NOW)
    assert decision.deliver_after == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)


def test_december_rolls_the_monthly_slot_into_the_next_year() -> None:
    december = datetime(2026, 12, 15, tzinfo=UTC)
    decision = decide(
        replace(ALLOWED, preferences=Preferences(frequency="monthly")), "email", None, december
    )
    assert decision.deliver_after == datetime(2027, 1, 1, tzinfo=UTC)
