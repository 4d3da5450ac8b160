"""What a subject's email may hold: no control characters, whatever the regex lets through."""

from __future__ import annotations

import pytest

from services.consent.domain.subjects import clean_email
from shared.errors import InvalidInput


@pytest.mark.parametrize(
    "email", ["an\x01na@example.fi", "anna@exa\x7fmple.fi", "anna@ex\x9bample.fi"]
)
def test_an_email_with_a_control_character_is_not_valid(email):
    with pytest.raises(InvalidInput):
        clean_email(email)


def test_an_ordinary_email_is_cleaned_not_refused():
    assert clean_email(" Anna@Example.FI ") == "anna@example.fi"
