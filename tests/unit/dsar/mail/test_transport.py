"""Without an SMTP server, mail lands as ``.eml`` files a developer can open; the settings
choose the transport."""

from __future__ import annotations

import stat
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from services.dsar.mail.compose import compose
from services.dsar.mail.settings import DEFAULT_SENDER, MailSettings
from services.dsar.mail.transport import (
    EmlDirectoryTransport,
    SmtpTransport,
    transport_from_env,
)
from tests.unit.dsar.mail.contexts import FULL_CONTEXTS


async def test_the_eml_fallback_writes_a_parseable_private_file(tmp_path: Path) -> None:
    message = compose(
        "identity_code", "sv", "a@example.org", FULL_CONTEXTS["identity_code"], DEFAULT_SENDER
    )
    transport = EmlDirectoryTransport(tmp_path / "mail")
    await transport.send(message)
    await transport.send(message)
    files = sorted((tmp_path / "mail").iterdir())
    assert len(files) == 2 and all(f.suffix == ".eml" for f in files)
    assert not any(f.name.startswith(".") for f in files)  # no temporary left behind
    parsed = BytesParser(policy=policy.default).parsebytes(files[0].read_bytes())
    assert parsed["Subject"] == "Din bekräftelsekod: 493817"
    assert "493817" in parsed.get_content()
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600


def test_without_an_smtp_url_mail_goes_to_files_under_lupa_home(tmp_path: Path) -> None:
    transport = transport_from_env({}, tmp_path)
    assert transport == EmlDirectoryTransport(tmp_path / "mail")


def test_an_smtp_url_selects_smtp(tmp_path: Path) -> None:
    url = "smtp://user:pa%40ss@mail.example:2525"
    assert transport_from_env({"LUPA_SMTP_URL": url}, tmp_path) == SmtpTransport(url)


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "mail.example:25"])
def test_a_malformed_smtp_url_is_refused_at_start_up(url: str) -> None:
    with pytest.raises(ValueError, match="LUPA_SMTP_URL"):
        SmtpTransport(url)


def test_mail_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = MailSettings.from_env(
        {
            "LUPA_MAIL_FROM": "Esimerkki <dpo@esimerkki.example>",
            "LUPA_MAIL_TEMPLATES": str(tmp_path),
            "LUPA_MAIL_MAX_ATTEMPTS": "3",
        }
    )
    assert settings == MailSettings(
        sender="Esimerkki <dpo@esimerkki.example>", templates=tmp_path, max_attempts=3
    )
    assert MailSettings.from_env({}) == MailSettings(sender="Lupa <privacy@localhost>")
