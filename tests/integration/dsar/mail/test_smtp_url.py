"""What ``LUPA_SMTP_URL`` says is what the SMTP client does: it logs in with the URL's
credentials, upgrades to TLS when the server offers STARTTLS, and not with ``?starttls=no``."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from services.dsar.mail.compose import compose
from services.dsar.mail.transport import DeliveryFailed, SmtpTransport
from tests.integration.dsar.mail.conftest import SmtpServer
from tests.integration.dsar.mail.tls_helpers import self_signed_context

SENDER = "Lupa <privacy@localhost>"


def closed_notice(to: str) -> EmailMessage:
    return compose("request_closed_unverified", "en", to, {"request_id": "r-1"}, SENDER)


async def test_the_urls_credentials_are_used_to_log_in(smtp_server: SmtpServer) -> None:
    await smtp_server.start_with_login()
    url = f"smtp://lupa%40example.org:p%3Ass@127.0.0.1:{smtp_server.port}"
    message = closed_notice("a@example.org")
    await SmtpTransport(url).send(message)
    assert smtp_server.logins == [(b"lupa@example.org", b"p:ss")]
    assert len(smtp_server.inbox.to("a@example.org")) == 1


async def test_starttls_is_used_when_offered(smtp_server: SmtpServer, tmp_path: Path) -> None:
    await smtp_server.start(tls_context=self_signed_context(tmp_path))
    message = closed_notice("b@example.org")
    # The client upgrades and then refuses the self-signed certificate: proof it tried TLS.
    with pytest.raises(DeliveryFailed) as failure:
        await SmtpTransport(smtp_server.url).send(message)
    assert "SSLCertVerificationError" in str(failure.value)
    assert "b@example.org" not in str(failure.value)
    assert smtp_server.inbox.to("b@example.org") == []


async def test_starttls_no_keeps_the_connection_plain(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    await smtp_server.start(tls_context=self_signed_context(tmp_path))
    message = closed_notice("c@example.org")
    await SmtpTransport(f"{smtp_server.url}?starttls=no").send(message)
    assert len(smtp_server.inbox.to("c@example.org")) == 1
