"""A connector's Standard Webhooks secret, sealed under the active key-encryption key."""

from __future__ import annotations

from shared.crypto import open_sealed, seal
from shared.keys import Keyring


def _aad(name: str) -> bytes:
    return b"lupa.dsar-connector-secret:" + name.encode()


def seal_secret(keyring: Keyring, name: str, secret: str) -> tuple[str, bytes]:
    """(kek_id, sealed) for the dsar_connectors row of connector ``name``."""
    newest = keyring.newest()
    kek_id = newest.active_kek_id
    return kek_id, seal(newest.kek(kek_id), secret.encode(), _aad(name))


def open_secret(keyring: Keyring, name: str, kek_id: str, sealed: bytes) -> str:
    return open_sealed(keyring.newest().kek(kek_id), sealed, _aad(name)).decode()


def reseal_secret(keyring: Keyring, name: str, kek_id: str, sealed: bytes) -> tuple[str, bytes]:
    """(kek_id, sealed) of connector ``name``'s secret sealed under ``kek_id``, sealed again by
    ``keyring``'s active KEK. This very keyring, not its newest: rotation holds the keyring it
    has just saved."""
    secret = open_sealed(keyring.kek(kek_id), sealed, _aad(name))
    target = keyring.active_kek_id
    return target, seal(keyring.kek(target), secret, _aad(name))
