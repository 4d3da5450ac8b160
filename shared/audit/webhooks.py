"""Webhook signing (Standard Webhooks), secrets, and one delivery attempt.

Every delivery carries the three headers of the Standard Webhooks specification
(https://www.standardwebhooks.com): ``webhook-id`` (the event's id, the same on every retry, so
a receiver can drop duplicates), ``webhook-timestamp`` (unix seconds; receivers refuse stale
ones, which stops replays) and ``webhook-signature: v1,<base64 HMAC-SHA256>`` over
``"<id>.<timestamp>.<raw body>"``. Receivers verify with any Standard Webhooks library, passing
the subscription's secret as Lupa showed it.

Secrets take the specification's form, ``whsec_`` + base64 of 32 random bytes; the key is those
bytes. A secret stored before Lupa used this form (plain text) signs with its UTF-8 bytes, which
a library is given as ``whsec_`` + base64 of that text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import random
import secrets
import time
import uuid

import httpx

from shared.crypto import open_sealed, seal
from shared.keys import Keyring

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
SECRET_BYTES = 32
MIN_SECRET_BYTES = 24


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a secret stands for (see the module's docstring)."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    return secret.encode()


def is_standard_secret(secret: str) -> bool:
    """``whsec_`` + base64 of at least MIN_SECRET_BYTES bytes."""
    if not secret.startswith(SECRET_PREFIX):
        return False
    try:
        return len(secret_key(secret)) >= MIN_SECRET_BYTES
    except (binascii.Error, ValueError):
        return False


def signed_headers(
    secret: str, message_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The Standard Webhooks headers of one delivery of ``body``."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{message_id}.{t}.".encode() + body
    mac = base64.b64encode(hmac.new(secret_key(secret), signed, hashlib.sha256).digest())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(t),
        "webhook-signature": f"v1,{mac.decode()}",
    }


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: retry n waits between half and all of base·2ⁿ⁻¹."""
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    return float(ceiling / 2 + random.random() * ceiling / 2)


def _secret_aad(subscription_id: uuid.UUID) -> bytes:
    return b"lupa.webhook-secret:" + subscription_id.bytes


def seal_secret(keyring: Keyring, subscription_id: uuid.UUID, secret: str) -> tuple[str, bytes]:
    """The secret encrypted under the active KEK: (kek_id, sealed bytes).

    A keyring read from a file is re-read first (a stat when unchanged), so a running service
    seals with the KEK a rotation made active, never with one about to be retired.
    """
    newest = keyring.newest()
    kek_id = newest.active_kek_id
    return kek_id, seal(newest.kek(kek_id), secret.encode(), _secret_aad(subscription_id))


def open_secret(keyring: Keyring, subscription_id: uuid.UUID, kek_id: str, sealed: bytes) -> str:
    return open_sealed(keyring.kek(kek_id), sealed, _secret_aad(subscription_id)).decode()


async def post_event(
    client: httpx.AsyncClient, url: str, secret: str, message_id: str, body: bytes
) -> str | None:
    """POST one signed event; None when the receiver answered 2xx, else a short error."""
    headers = {
        "Content-Type": "application/cloudevents+json",
        **signed_headers(secret, message_id, body),
    }
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
