"""Request evidence reaches the ledger only as keyed hashes, whichever use case stores it."""

from __future__ import annotations

from services.consent.service.evidence import Evidence, hash_evidence
from shared.crypto import keyed_hash
from shared.keys import Keyring


def test_address_and_user_agent_are_stored_only_as_keyed_hashes():
    keyring = Keyring.generate()
    hashes = hash_evidence(keyring, Evidence("192.0.2.7", "Mozilla/5.0"))
    assert hashes.ip_hash == keyed_hash(keyring.evidence_key, "192.0.2.7")
    assert hashes.ua_hash == keyed_hash(keyring.evidence_key, "Mozilla/5.0")
    assert b"192.0.2.7" not in hashes.ip_hash


def test_missing_evidence_stays_missing():
    assert hash_evidence(Keyring.generate(), Evidence(None, "")) == (None, None)
