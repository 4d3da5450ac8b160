"""Per-request encryption: each request's personal data (the requester's address, a
rectification's new values, notes, answers of connectors, the package) is sealed with the
request's own data key, wrapped by the key-encryption key. Shredding the key (``shred``) makes
every sealed value unreadable at once, backups included."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.crypto import field_aad, new_data_key, open_sealed, seal, unwrap_data_key, wrap_data_key
from shared.errors import Conflict
from shared.keys import Keyring, UnknownKey


class RequestKeys:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring

    def new_key(self, request_id: uuid.UUID) -> tuple[bytes, str, bytes]:
        """A fresh data key for a request about to be inserted: (dek, kek_id, wrapped)."""
        dek = new_data_key()
        newest = self.keyring.newest()
        kek_id = newest.active_kek_id
        return dek, kek_id, wrap_data_key(newest.kek(kek_id), dek, request_id)

    async def data_key(self, request_id: uuid.UUID) -> bytes:
        row = (
            await self.session.execute(
                text("SELECT kek_id, wrapped_key FROM dsar_requests WHERE id = :id"),
                {"id": request_id},
            )
        ).one_or_none()
        if row is None or row.wrapped_key is None:
            raise Conflict("This request's personal data has been shredded.")
        return self.open_key(request_id, row.kek_id, row.wrapped_key)

    def open_key(self, request_id: uuid.UUID, kek_id: str, wrapped: bytes) -> bytes:
        try:
            kek = self.keyring.kek(kek_id)
        except UnknownKey:  # rotated since this process loaded its keyring
            kek = self.keyring.newest().kek(kek_id)
        return unwrap_data_key(kek, wrapped, request_id)

    async def shred(self, request_id: uuid.UUID) -> None:
        """Destroy the request's key: every value sealed with it is gone for good."""
        await self.session.execute(
            text("UPDATE dsar_requests SET kek_id = NULL, wrapped_key = NULL WHERE id = :id"),
            {"id": request_id},
        )


def seal_value(dek: bytes, request_id: uuid.UUID, field: str, value: bytes) -> bytes:
    return seal(dek, value, field_aad(request_id, field))


def open_value(dek: bytes, request_id: uuid.UUID, field: str, sealed: bytes) -> bytes:
    return open_sealed(dek, sealed, field_aad(request_id, field))
