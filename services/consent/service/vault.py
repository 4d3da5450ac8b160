"""Per-subject encryption: create, unwrap and use each subject's data key."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

from services.consent.db import subjects as repo
from services.consent.db.subjects import WrappedKey
from shared.crypto import field_aad, new_data_key, open_sealed, seal, unwrap_data_key, wrap_data_key
from shared.db.statements import Transaction
from shared.errors import Conflict
from shared.keys import Keyring, UnknownKey


class SubjectVault:
    """Seals and opens one subject's fields; a missing key means the subject was shredded."""

    def __init__(self, session: Transaction, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring

    async def create_key(self, subject_id: uuid.UUID) -> bytes:
        dek = new_data_key()
        keyring = self._newest()  # after a rotation, new keys are wrapped by the new KEK at once
        kek_id = keyring.active_kek_id
        wrapped = wrap_data_key(keyring.kek(kek_id), dek, subject_id)
        await repo.insert_key(self.session, subject_id, kek_id, wrapped, datetime.now(UTC))
        return dek

    async def data_key(self, subject_id: uuid.UUID) -> bytes:
        return self.open_key(subject_id, await repo.get_key(self.session, subject_id))

    def open_key(self, subject_id: uuid.UUID, wrapped: WrappedKey | None) -> bytes:
        """The data key from its wrapped form as read (None: it was shredded)."""
        if wrapped is None:
            raise Conflict("This subject's data has been erased.")
        return unwrap_data_key(self._kek(wrapped.kek_id), wrapped.wrapped_dek, subject_id)

    def _kek(self, kek_id: str) -> bytes:
        """The KEK ``kek_id``; an id this process lacks means a rotation: re-read the file."""
        source = self.keyring.source
        try:
            return (source.current() if source else self.keyring).kek(kek_id)
        except UnknownKey:
            return self._newest().kek(kek_id)

    def _newest(self) -> Keyring:
        """The keyring as last saved to its file (a stat if unchanged); as given if not from one."""
        return self.keyring.newest()

    @staticmethod
    def seal_field(dek: bytes, subject_id: uuid.UUID, field: str, value: str) -> bytes:
        return seal(dek, value.encode(), field_aad(subject_id, field))

    @staticmethod
    def open_field(
        dek: bytes, subject_id: uuid.UUID, field: str, sealed: bytes | None
    ) -> str | None:
        if sealed is None:
            return None
        return open_sealed(dek, sealed, field_aad(subject_id, field)).decode()

    @classmethod
    def seal_text_b64(cls, dek: bytes, subject_id: uuid.UUID, field: str, value: str) -> str:
        """Free text for audit event data: sealed with the subject's key, so erasure shreds it."""
        return base64.b64encode(cls.seal_field(dek, subject_id, field, value)).decode()
