"""Webhook signing, verification and one delivery attempt.

``Lupa-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``: the receiver
recomputes it over the raw body and rejects stale timestamps, which stops replays.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
import uuid

import httpx

from shared.crypto import open_sealed, seal
from shared.keys import Keyring

SIGNATURE_HEADER = "Lupa-Signature"
DEFAULT_TOLERANCE_S = 300


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def signature_valid(
    secret: str,
    header: str,
    body: bytes,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """What a receiver runs: the MAC matches and the timestamp is fresh."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        t = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False
    expected = signature_header(secret, body, t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


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


async def post_event(client: httpx.AsyncClient, url: str, secret: str, body: bytes) -> str | None:
    """POST one signed event; None when the receiver answered 2xx, else a short error."""
    headers = {
        "Content-Type": "application/cloudevents+json",
        SIGNATURE_HEADER: signature_header(secret, body),
    }
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
