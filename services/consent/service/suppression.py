"""The keyed hash a sender matches its own list against: HMAC-SHA256 of the normalised address."""

from __future__ import annotations

from shared.crypto import keyed_hash, normalise_email, normalise_phone
from shared.keys import Keyring


def suppression_hash(keyring: Keyring, field: str, address: str) -> bytes:
    """Email: NFC, trimmed, lower-cased; phone: ``+`` and digits (E.164). Keyed, never plain."""
    normal = normalise_email(address) if field == "email" else normalise_phone(address)
    return keyed_hash(keyring.suppression_key, normal)
