"""A pause ends at most ``MAX_PAUSE`` ahead, so its end is always a date that can be computed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.consent.domain.preferences import MAX_PAUSE, apply_patch, default_document
from shared.errors import InvalidInput

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def pause_until(value: str) -> dict:
    return apply_patch(default_document(), {"paused_until": value}, now=NOW, role="portal")


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:59:59-05:00",  # past year 9999 once in UTC
        "9999-12-31T23:59:59+00:00",
        (NOW + MAX_PAUSE).replace(second=1).isoformat(),
        "0001-01-01T00:00:00+05:00",  # before year 1 once in UTC
    ],
)
def test_a_pause_beyond_the_horizon_or_before_year_one_is_refused(value):
    with pytest.raises(InvalidInput) as refused:
        pause_until(value)
    assert refused.value.extensions == {"field": "paused_until"}


def test_a_pause_up_to_the_horizon_is_kept_in_utc():
    edge = (NOW + MAX_PAUSE).astimezone(UTC)
    assert pause_until(edge.isoformat())["paused_until"] == edge.isoformat().replace("+00:00", "Z")
