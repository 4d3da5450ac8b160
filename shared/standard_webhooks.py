"""Verifying a request signed as Standard Webhooks (https://www.standardwebhooks.com).

Lupa signs its own deliveries with ``shared.audit.webhooks.signed_headers``; this is the other
side, for what Lupa receives: connector jobs at the consent service and connector callbacks at
the DSAR service. A signature is ``v1,<base64 HMAC-SHA256>`` over ``"<id>.<timestamp>.<body>"``
with the key the ``whsec_`` secret stands for; the header may hold several, space-separated
(a sender rotating its secret), and one valid signature is enough. A timestamp more than
``tolerance_s`` away from now is refused, which stops replays of an old message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

from shared.audit.webhooks import secret_key

DEFAULT_TOLERANCE_S = 300


class BadSignature(Exception):
    """Missing headers, a stale timestamp or no signature that verifies."""


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> str:
    """The message id (``webhook-id``) of a correctly signed, fresh message."""
    message_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not message_id or not timestamp or not signatures:
        raise BadSignature("webhook-id, webhook-timestamp and webhook-signature are required")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise BadSignature("webhook-timestamp is not unix seconds")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance_s:
        raise BadSignature("webhook-timestamp is too old or too far ahead")
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(secret_key(secret), signed, hashlib.sha256).digest())
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return message_id
    raise BadSignature("no signature verifies with the shared secret")
