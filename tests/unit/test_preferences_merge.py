"""Merging a preference patch: RFC 7396 on the known fields, strict values, nothing half-applied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.consent.domain.preferences import (
    apply_patch,
    default_document,
    etag,
    from_stored,
    if_match_allows,
)
from shared.errors import Forbidden, InvalidInput

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def patched(patch: object, doc: dict | None = None, role: str = "portal") -> dict:
    return apply_patch(doc or default_document(), patch, now=NOW, role=role)


def test_defaults_have_every_channel_on_and_nothing_paused():
    doc = default_document()
    assert set(doc["channels"]) == {"email", "sms", "phone", "post", "push"}
    assert all(c == {"enabled": True, "frequency": "immediately"} for c in doc["channels"].values())
    assert doc["paused_until"] is None and doc["marketing_opt_out"] is False


def test_a_channel_patch_changes_only_what_it_names():
    doc = patched({"channels": {"sms": {"frequency": "weekly"}}})
    assert doc["channels"]["sms"] == {"enabled": True, "frequency": "weekly"}
    assert doc["channels"]["email"] == default_document()["channels"]["email"]


def test_topics_replace_per_purpose_and_null_drops_the_choice():
    doc = patched({"topics": {"news": ["b", "a", "a"], "offers": ["x"]}})
    assert doc["topics"] == {"news": ["a", "b"], "offers": ["x"]}
    doc = patched({"topics": {"offers": None}}, doc)
    assert doc["topics"] == {"news": ["a", "b"]}
    assert patched({"topics": None}, doc)["topics"] == {}


def test_quiet_hours_merge_into_existing_and_null_clears():
    qh = {"start": "21:00", "end": "08:00", "timezone": "Europe/Helsinki"}
    doc = patched({"quiet_hours": qh})
    doc = patched({"quiet_hours": {"start": "22:30"}}, doc)
    assert doc["quiet_hours"] == {**qh, "start": "22:30"}
    assert patched({"quiet_hours": None}, doc)["quiet_hours"] is None


def test_pause_is_stored_as_utc():
    doc = patched({"paused_until": "2026-03-02T12:00:00+02:00"})
    assert doc["paused_until"] == "2026-03-02T10:00:00Z"


def test_the_input_document_is_never_modified():
    doc = default_document()
    patched({"channels": {"email": {"enabled": False}}}, doc)
    assert doc == default_document()


@pytest.mark.parametrize(
    "patch",
    [
        {"channels": {"email": {"frequency": "hourly"}}},
        {"channels": {"email": {"enabled": "yes"}}},
        {"channels": {"email": None}},
        {"channels": {"fax": {"enabled": False}}},
        {"channels": {"email": {"enabled": False, "colour": "red"}}},
        {"quiet_hours": {"start": "21:00", "end": "08:00", "timezone": "Mars/Olympus"}},
        {"quiet_hours": {"start": "21:00", "end": "08:00", "timezone": "../../etc/passwd"}},
        {"quiet_hours": {"start": "25:00", "end": "08:00", "timezone": "UTC"}},
        {"quiet_hours": {"start": "21:00", "end": "21:00", "timezone": "UTC"}},
        {"quiet_hours": {"start": "21:00"}},
        {"paused_until": (NOW - timedelta(minutes=1)).isoformat()},
        {"paused_until": "2099-01-01T00:00:00"},
        {"paused_until": "tomorrow"},
        {"paused_until": 1893456000},
        {"language": "de"},
        {"topics": ["news"]},
        {"topics": {"News!": ["a"]}},
        {"topics": {"news": ["Not A Slug"]}},
        {"marketing_opt_out": None},
        {"marketing_opt_out": "true"},
        {"unknown": 1},
        [],
    ],
)
def test_bad_values_are_refused(patch):
    with pytest.raises(InvalidInput):
        patched(patch)


def test_ending_a_marketing_opt_out_needs_an_allowed_role():
    doc = patched({"marketing_opt_out": True})
    assert patched({"marketing_opt_out": False}, doc, role="admin")["marketing_opt_out"] is False
    with pytest.raises(Forbidden):
        patched({"marketing_opt_out": False}, doc, role="cx")


def test_stored_documents_gain_defaults_for_missing_fields():
    doc = from_stored({"channels": {"sms": {"enabled": False}}, "language": "sv"})
    assert doc["channels"]["sms"] == {"enabled": False, "frequency": "immediately"}
    assert doc["language"] == "sv" and doc["topics"] == {}


@pytest.mark.parametrize(
    ("header", "version", "ok"),
    [
        ('"3"', 3, True),
        ('"2"', 3, False),
        ("*", 0, True),
        ('"1", "3"', 3, True),
        ('W/"3"', 3, False),
        ("3", 3, False),
    ],
)
def test_if_match_uses_strong_comparison(header, version, ok):
    assert if_match_allows(header, version) is ok
    assert etag(version) == f'"{version}"'
