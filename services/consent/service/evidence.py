"""How a request reached us (peer address, user agent), kept only as keyed hashes.

Every ledger event stores its evidence this way, whichever use case appends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from shared.crypto import keyed_hash
from shared.keys import Keyring


@dataclass(frozen=True, slots=True)
class Evidence:
    """How the request reached us; hashed with the evidence key before it is stored."""

    ip: str | None
    user_agent: str | None


class EvidenceHashes(NamedTuple):
    ip_hash: bytes | None
    ua_hash: bytes | None


def hash_evidence(keyring: Keyring, evidence: Evidence) -> EvidenceHashes:
    """IP and user agent under the evidence key; an absent or empty value stays ``None``."""
    return EvidenceHashes(
        _keyed(keyring.evidence_key, evidence.ip), _keyed(keyring.evidence_key, evidence.user_agent)
    )


def _keyed(key: bytes, value: str | None) -> bytes | None:
    return keyed_hash(key, value) if value else None
