"""Pure consent rules: what a request becomes, and what a stored state means at a moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.consent.domain.consents import (
    NOTHING_GRANTED,
    ConsentRequest,
    PurposeTerms,
    StoredState,
    decide,
    effective,
)
from services.consent.domain.errors import ChannelNotAllowed, GuardianRequired

NOW = datetime(2026, 6, 1, tzinfo=UTC)
TERMS = PurposeTerms(
    key="news",
    legal_basis="consent",
    channels=("email", "sms"),
    double_opt_in_channels=("email",),
    validity_days=30,
    min_age=13,
    current_version=2,
    min_accepted_version=2,
)


def request(action: str = "grant", channel: str = "email", **kw: str) -> ConsentRequest:
    return ConsentRequest(
        purpose="news", channel=channel, action=action, source="api", collection_method="api", **kw
    )


def test_grant_past_validity_reads_as_expired():
    stored = StoredState("granted", 2, NOW - timedelta(days=31))
    assert effective(stored, TERMS, NOW).state == "expired"
    assert effective(stored, TERMS, NOW - timedelta(days=2)).state == "granted"


def test_grant_of_an_old_version_needs_renewal():
    assert effective(StoredState("granted", 1, NOW), TERMS, NOW).renewal_required


def test_double_opt_in_channel_is_pending_unless_already_granted():
    assert decide(request(), TERMS, None, 30, NOW).state == "pending"
    live = StoredState("granted", 2, NOW - timedelta(days=1))
    assert decide(request(), TERMS, live, 30, NOW).state == "granted"
    assert decide(request(channel="sms"), TERMS, None, 30, NOW).state == "granted"


def test_child_without_guardian_is_refused_and_unknown_age_is_not():
    with pytest.raises(GuardianRequired):
        decide(request(), TERMS, None, 12, NOW)
    assert decide(request(given_by="guardian"), TERMS, None, 12, NOW).state == "pending"
    assert decide(request(), TERMS, None, None, NOW).state == "pending"


def test_withdrawal_is_always_recorded_and_says_when_nothing_was_granted():
    assert decide(request("withdraw"), TERMS, None, None, NOW).notice == NOTHING_GRANTED
    granted = StoredState("granted", 2, NOW)
    assert decide(request("withdraw"), TERMS, granted, None, NOW).notice is None


def test_withdrawal_on_a_channel_dropped_from_the_purpose_is_still_possible():
    with pytest.raises(ChannelNotAllowed):
        decide(request("withdraw", channel="post"), TERMS, None, None, NOW)
    old = StoredState("granted", 1, NOW)
    assert decide(request("withdraw", channel="post"), TERMS, old, None, NOW).state == "withdrawn"
