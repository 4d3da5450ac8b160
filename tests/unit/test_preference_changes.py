"""Describing a preference change: the audited fields and the "send me less" verdict."""

from __future__ import annotations

from datetime import UTC, datetime

from services.consent.domain.preference_changes import describe_change
from services.consent.domain.preferences import apply_patch, default_document

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def change(patch: dict, before: dict | None = None):
    old = before or default_document()
    return describe_change(old, apply_patch(old, patch, now=NOW, role="portal"), NOW)


def test_no_difference_is_no_change():
    assert not change({"channels": {"email": {"enabled": True}}}).changed


def test_fields_and_values_name_exactly_what_moved():
    c = change({"channels": {"sms": {"enabled": False}}, "language": "fi"})
    assert c.fields == ["channels.sms.enabled", "language"]
    assert c.values == {"channels.sms.enabled": False, "language": "fi"}
    assert c.send_less == []


def test_lower_frequency_and_pause_count_as_send_less():
    c = change(
        {"channels": {"email": {"frequency": "monthly"}}, "paused_until": "2026-04-01T00:00:00Z"}
    )
    assert c.send_less == ["frequency_reduced", "paused"]


def test_more_often_is_not_send_less():
    weekly = apply_patch(
        default_document(), {"channels": {"email": {"frequency": "weekly"}}}, now=NOW, role="portal"
    )
    assert change({"channels": {"email": {"frequency": "daily"}}}, weekly).send_less == []


def test_narrowing_topics_counts_as_send_less_but_widening_does_not():
    narrowed = change({"topics": {"news": ["running"]}})
    assert narrowed.send_less == ["topics_reduced"]
    before = apply_patch(
        default_document(), {"topics": {"news": ["running"]}}, now=NOW, role="portal"
    )
    assert change({"topics": {"news": ["cycling", "running"]}}, before).send_less == []
    assert change({"topics": {"news": None}}, before).send_less == []


def test_quiet_hours_values_stay_out_of_the_audit_data():
    c = change({"quiet_hours": {"start": "21:00", "end": "08:00", "timezone": "Europe/Helsinki"}})
    assert c.fields == ["quiet_hours"] and c.values == {}


def test_ending_a_marketing_opt_out_is_flagged():
    out = apply_patch(default_document(), {"marketing_opt_out": True}, now=NOW, role="portal")
    assert change({"marketing_opt_out": False}, out).marketing_resumed
    assert not change({"marketing_opt_out": True}).marketing_resumed
