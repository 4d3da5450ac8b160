"""msgspec messages that quote a submitted value lose the value in problems (issue 9)."""

from __future__ import annotations

import enum
from typing import Literal

import msgspec
import pytest

from shared.problems import without_values


class Frequency(enum.IntEnum):
    DAILY = 1


class Shape(msgspec.Struct, forbid_unknown_fields=True):
    name: str = ""


def message_of(value: object, target: object) -> str:
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.convert(value, target)
    return str(caught.value).partition(" - at ")[0]


@pytest.mark.parametrize(
    ("value", "target", "expected"),
    [
        ("email\x00qqleak", Literal["email", "sms"], "Invalid enum value"),
        (7, Frequency, "Invalid enum value"),
        ({"qqleak": 1}, Shape, "Object contains an unknown field"),
        ("qqleak", int, "Expected `int`, got `str`"),
    ],
)
def test_the_value_is_dropped_and_the_words_kept(value, target, expected):
    original = message_of(value, target)
    assert without_values(original) == expected
    assert "qqleak" not in without_values(original) and "7" not in without_values(original)


def test_a_message_without_a_value_is_unchanged():
    message = "Expected `str` matching regex '^[a-z]+$'"
    assert without_values(message) == message
