"""Links minted after a signing-key rotation verify in a process that started before it."""

from __future__ import annotations

import time
import uuid

import pytest

from services.consent.service.confirmations import read_link
from services.consent.service.consents import CONFIRM_LINK
from shared.auth.tokens import InvalidToken, sign_claims, verify_with_rotation
from shared.keys import load_keyring, save_keyring


def confirm_token(keyring, subject: uuid.UUID, event: uuid.UUID) -> str:
    claims = {
        "sub": str(subject),
        "event": str(event),
        "purpose": "newsletter",
        "channel": "email",
        "iat": int(time.time()),
        "exp": int(time.time()) + 600,
    }
    return sign_claims(keyring, claims, CONFIRM_LINK)


def test_a_confirmation_link_signed_by_a_newer_key_is_read(tmp_path):
    path = tmp_path / "keyring.json"
    running = load_keyring(path, env={})  # what a replica loaded at start-up
    rotated = running.with_new_signing_key()
    save_keyring(path, rotated)  # lupa keys rotate --signing, elsewhere
    subject, event = uuid.uuid4(), uuid.uuid4()
    target = read_link(running, confirm_token(rotated, subject, event))
    assert (target.subject_id, target.event_id) == (subject, event)


def test_a_forged_token_still_fails_after_the_file_is_read_again(tmp_path):
    path = tmp_path / "keyring.json"
    running = load_keyring(path, env={})
    stranger = load_keyring(tmp_path / "other.json", env={})
    with pytest.raises(InvalidToken):
        verify_with_rotation(
            running, confirm_token(stranger, uuid.uuid4(), uuid.uuid4()), CONFIRM_LINK
        )
