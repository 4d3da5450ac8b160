"""A composed mail carries the headers mail clients and auto-responders rely on."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

import pytest

from services.dsar.mail.compose import compose
from services.dsar.mail.templates import TemplateProblem
from tests.unit.dsar.mail.contexts import FULL_CONTEXTS

SENDER = "Esimerkki Oy <privacy@esimerkki.example>"


def test_a_composed_mail_has_every_header_and_a_utf8_body() -> None:
    message = compose(
        "identity_code", "fi", "maija@example.org", FULL_CONTEXTS["identity_code"], SENDER
    )
    parsed = BytesParser(policy=policy.default).parsebytes(message.as_bytes())
    assert parsed["From"] == SENDER
    assert parsed["To"] == "maija@example.org"
    assert parsed["Subject"] == "Vahvistuskoodisi: 493817"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Message-ID"].endswith("@esimerkki.example>")
    assert parsedate_to_datetime(parsed["Date"]).tzinfo is not None
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content_charset() == "utf-8"
    body = parsed.get_content()
    assert "493817" in body and "Ystävällisin terveisin" in body


def test_each_mail_gets_its_own_message_id() -> None:
    context = FULL_CONTEXTS["request_closed_unverified"]
    first = compose("request_closed_unverified", "en", "a@example.org", context, SENDER)
    second = compose("request_closed_unverified", "en", "a@example.org", context, SENDER)
    assert first["Message-ID"] != second["Message-ID"]


def test_an_unknown_locale_is_composed_in_english() -> None:
    context = FULL_CONTEXTS["identity_code"]
    message = compose("identity_code", "de", "a@example.org", context, SENDER)
    assert message["Subject"] == "Your confirmation code: 493817"


def test_a_missing_variable_fails_when_composing() -> None:
    with pytest.raises(TemplateProblem, match="valid_minutes"):
        compose("identity_code", "en", "a@example.org", {"code": "1"}, SENDER)
