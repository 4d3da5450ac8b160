"""How a composed message leaves Lupa: an SMTP server, or ``.eml`` files in a directory when
none is configured (a developer, or an operator who hands files to another system)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

# The queued row stays locked while its mail is sent: keep well under the database's 60 s
# idle-in-transaction limit, so a hung server fails one attempt instead of the connection.
SMTP_TIMEOUT_SECONDS = 30.0


class DeliveryFailed(RuntimeError):
    """A message could not be handed over; the text names no address (it is stored)."""


class Transport(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpTransport:
    """``smtp://[user:pass@]host[:port]`` (STARTTLS when offered, unless ``?starttls=no``) or
    ``smtps://`` (TLS from the first byte)."""

    url: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("LUPA_SMTP_URL must look like smtp://host[:port] or smtps://host")

    async def send(self, message: EmailMessage) -> None:
        parts = urlsplit(self.url)
        implicit_tls = parts.scheme == "smtps"
        starttls = parse_qs(parts.query).get("starttls", [""])[0].lower()
        try:
            await aiosmtplib.send(
                message,
                hostname=parts.hostname,
                port=parts.port or (465 if implicit_tls else 25),
                username=unquote(parts.username) if parts.username else None,
                password=unquote(parts.password) if parts.password else None,
                use_tls=implicit_tls,
                # None: STARTTLS exactly when the server offers it.
                start_tls=False if implicit_tls or starttls == "no" else None,
                timeout=SMTP_TIMEOUT_SECONDS,
            )
        except aiosmtplib.SMTPResponseException as refused:
            # The server's text may quote the address: keep only the reply code.
            raise DeliveryFailed(f"SMTP server replied {refused.code}") from None
        except (aiosmtplib.SMTPException, OSError) as error:
            raise DeliveryFailed(f"SMTP delivery failed: {type(error).__name__}") from None


@dataclass(frozen=True)
class EmlDirectoryTransport:
    """Each message as ``<timestamp>-<uuid>.eml`` in ``path``, readable only by its owner
    (the files hold addresses and codes). Written to a temporary name, then renamed, so a
    reader never sees half a message."""

    path: Path

    async def send(self, message: EmailMessage) -> None:
        try:
            await asyncio.to_thread(self.write, message.as_bytes())
        except OSError as error:  # a full disk or a lost mount: retried like an SMTP outage
            raise DeliveryFailed(f"writing the .eml file failed: {type(error).__name__}") from None

    def write(self, data: bytes) -> Path:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        final = self.path / f"{stamp}-{uuid.uuid4()}.eml"
        temporary = self.path / f".{final.name}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, final)
        return final


def transport_from_env(env: Mapping[str, str], lupa_home: Path) -> Transport:
    """SMTP when ``LUPA_SMTP_URL`` is set, else ``.eml`` files under ``<lupa_home>/mail/``."""
    url = env.get("LUPA_SMTP_URL")
    if url:
        return SmtpTransport(url)
    return EmlDirectoryTransport(lupa_home / "mail")
