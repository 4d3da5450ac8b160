"""One message from a template: the headers every Lupa mail carries and a UTF-8 text body."""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any

from services.dsar.mail.templates import render


def compose(
    template: str,
    locale: str,
    to: str,
    context: Mapping[str, Any],
    sender: str,
    *,
    overrides: Path | None = None,
) -> EmailMessage:
    """Template ``template`` in ``locale`` (en when unsupported) as a message to ``to``.

    Raises ``TemplateProblem`` for a missing template or variable, so a caller queueing the
    mail fails before anything is stored."""
    rendered = render(template, locale, context, overrides)
    message = EmailMessage()
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=_domain(sender))
    message["From"] = sender
    message["To"] = to
    message["Subject"] = rendered.subject
    # RFC 3834: tells auto-responders (vacation replies) not to answer.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.body, subtype="plain", charset="utf-8")
    return message


def _domain(sender: str) -> str:
    _, address = parseaddr(sender)
    return address.rpartition("@")[2] or "localhost"
