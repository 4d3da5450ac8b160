"""What a subject's personal data may look like; pure validation, no storage."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from shared.crypto import normalise_email, normalise_phone
from shared.errors import InvalidInput

# ``(?!\n)``: Python's ``$`` alone would also admit a final newline.
EXTERNAL_ID_PATTERN = r"^[\x21-\x7e](?:[\x20-\x7e]{0,126}[\x21-\x7e])?(?!\n)$"
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
PERSONAL_FIELDS = ("email", "phone", "name", "birth_date")


def clean_email(value: str) -> str:
    email = normalise_email(value)
    # ``\s`` leaves most control characters in; an address has none of them.
    if len(email) > 254 or not email.isprintable() or not _EMAIL.match(email):
        raise InvalidInput("The email address is not valid.", field="email")
    return email


def clean_phone(value: str) -> str:
    phone = normalise_phone(value)
    if not _PHONE.match(phone):
        raise InvalidInput(
            "The phone number must be in international form, e.g. +358401234567.", field="phone"
        )
    return phone


def clean_name(value: str) -> str:
    name = " ".join(value.split())
    if not name or len(name) > 200 or not name.isprintable():
        raise InvalidInput("The name must be 1-200 printable characters.", field="name")
    return name


def clean_birth_date(value: date, today: date) -> date:
    if value > today or value.year < 1900:
        raise InvalidInput("The birth date must be a past date after 1900.", field="birth_date")
    return value


def age_on(birth_date: date, day: date) -> int:
    """Completed years on ``day`` (a 29 February birthday counts from 1 March in common years)."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


@dataclass(frozen=True)
class SubjectChanges:
    """Validated personal fields to set (None clears); absent keys are left as they are."""

    fields: dict[str, str | date | None]
    locale: str | None
