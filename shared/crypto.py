"""Field encryption, data-key wrapping and keyed hashes.

Each subject has a random 256-bit data key (DEK). Personal fields are sealed with AES-256-GCM
under that DEK, with the subject id and field name as associated data, so a ciphertext moved
to another subject or column fails to open. The DEK is stored only wrapped by a
key-encryption key (KEK); deleting the wrapped DEK crypto-shreds every field of the subject.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
FORMAT_V1 = b"\x01"


class DecryptionFailed(Exception):
    """The ciphertext was altered, moved, or its key is gone."""


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return FORMAT_V1 + nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def open_sealed(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    if not sealed.startswith(FORMAT_V1):
        raise DecryptionFailed("unknown ciphertext format")
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, associated)
    except InvalidTag:
        raise DecryptionFailed("ciphertext does not authenticate") from None


def field_aad(subject_id: uuid.UUID, field: str) -> bytes:
    return f"lupa:v1:{subject_id}:{field}".encode()


def wrap_data_key(kek: bytes, dek: bytes, subject_id: uuid.UUID) -> bytes:
    return seal(kek, dek, f"lupa:dek:{subject_id}".encode())


def unwrap_data_key(kek: bytes, wrapped: bytes, subject_id: uuid.UUID) -> bytes:
    return open_sealed(kek, wrapped, f"lupa:dek:{subject_id}".encode())


def keyed_hash(key: bytes, value: str) -> bytes:
    """HMAC-SHA256: a lookup key that cannot be reversed by guessing without the secret."""
    return hmac.new(key, value.encode(), hashlib.sha256).digest()


def normalise_email(email: str) -> str:
    return unicodedata.normalize("NFC", email.strip()).lower()


def normalise_phone(phone: str) -> str:
    """E.164-ish: keep a leading + and digits only ("+358 40 123 4567" -> "+358401234567")."""
    phone = phone.strip()
    digits = "".join(ch for ch in phone if ch.isdigit())
    return ("+" if phone.startswith("+") else "") + digits
