"""Key rotation: add a key-encryption key, rewrap every data key and reseal every webhook
secret to it, retire old ones.

The keyring is saved *before* anything is rewrapped, so every key id that reaches the database
is in the file a running process re-reads (SubjectVault and the relay reload on an unknown id).
Old KEKs stay in the keyring until ``retire``, which refuses while any data key or webhook
secret still uses one: a retired KEK under a webhook secret would leave that subscription
undeliverable.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.consent.db import key_rotation as repo
from shared.audit import webhook_store
from shared.audit.outbox import AuditEvent, record_event
from shared.audit.webhooks import open_secret, seal_secret
from shared.crypto import DecryptionFailed, unwrap_data_key, wrap_data_key
from shared.db.engine import session_scope
from shared.keys import Keyring, UnknownKey

SERVICE = "consent"
BATCH_SIZE = 500

SaveKeyring = Callable[[Keyring], None]


class RotationRefused(Exception):
    """The keyring change would strand data keys or is not possible; nothing was changed."""


@dataclass(frozen=True)
class RewrapReport:
    kek: str
    rewrapped: int
    batches: int
    remaining: int  # still under an old KEK: rows busy during the pass, or that failed to unwrap
    failed: int
    secrets_resealed: int = 0  # webhook signing secrets moved to ``kek``
    secrets_remaining: int = 0  # webhook secrets still under an old KEK (busy, or unreadable)


class KeyRotation:
    """Rewraps and counts data keys with one keyring; each batch is its own short transaction."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.sessions = sessions
        self.keyring = keyring
        self.batch_size = batch_size

    async def usage(self) -> dict[str, int]:
        """How many data keys each KEK id wraps (ids not in this keyring included)."""
        async with self.sessions() as session:
            return await repo.count_by_kek(session)

    async def rewrap(self) -> RewrapReport:
        """Rewrap every data key held by another KEK of this keyring to the active KEK."""
        target = self.keyring.active_kek_id
        old = [kek_id for kek_id in self.keyring.keks if kek_id != target]
        after: uuid.UUID | None = None
        done = batches = failed = 0
        while old:
            async with session_scope(self.sessions) as session:
                rows = await repo.lock_batch(session, old, after, self.batch_size)
                if not rows:
                    break
                after = rows[-1]["subject_id"]
                rewrapped = self._rewrapped(rows)
                failed += len(rows) - len(rewrapped)
                if rewrapped:
                    await repo.store_rewrapped(session, rewrapped, datetime.now(UTC))
                    await record_event(
                        session,
                        AuditEvent(
                            service=SERVICE,
                            type="keys.rewrapped",
                            subject=None,
                            data={"kek": target, "count": len(rewrapped)},
                        ),
                    )
            done, batches = done + len(rewrapped), batches + 1
        resealed = await self.reseal_webhook_secrets(old) if old else 0
        return RewrapReport(
            kek=target,
            rewrapped=done,
            batches=batches,
            remaining=await self.in_use(old) if old else 0,
            failed=failed,
            secrets_resealed=resealed,
            secrets_remaining=await self.secrets_in_use(old) if old else 0,
        )

    async def reseal_webhook_secrets(self, old: list[str]) -> int:
        """Reseal the webhook secrets under ``old`` KEKs with the active one (one transaction:
        subscriptions are few), recorded like the data keys."""
        async with session_scope(self.sessions) as session:
            rows = await webhook_store.lock_secrets_under(session, old)
            resealed = self._resealed(rows)
            if resealed:
                await webhook_store.store_resealed(session, resealed)
                await record_event(
                    session,
                    AuditEvent(
                        service=SERVICE,
                        type="keys.webhook_secrets_rewrapped",
                        subject=None,
                        data={"kek": self.keyring.active_kek_id, "count": len(resealed)},
                    ),
                )
        return len(resealed)

    def _resealed(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            try:
                secret = open_secret(self.keyring, row["id"], row["kek_id"], row["sealed_secret"])
            except (DecryptionFailed, UnknownKey):
                continue  # left as it is and counted; retire will refuse that KEK
            kek_id, sealed = seal_secret(self.keyring, row["id"], secret)
            out.append({"id": row["id"], "kek_id": kek_id, "sealed_secret": sealed})
        return out

    def _rewrapped(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        new_kek = self.keyring.kek(self.keyring.active_kek_id)
        out = []
        for row in rows:
            sid = row["subject_id"]
            try:
                dek = unwrap_data_key(self.keyring.kek(row["kek_id"]), row["wrapped_dek"], sid)
            except DecryptionFailed:
                continue  # left under its old KEK and counted; retire will refuse that KEK
            out.append(
                {
                    "sid": sid,
                    "kek": self.keyring.active_kek_id,
                    "wrapped": wrap_data_key(new_kek, dek, sid),
                }
            )
        return out

    async def in_use(self, kek_ids: list[str]) -> int:
        """How many data keys ``kek_ids`` still wrap."""
        async with self.sessions() as session:
            return await repo.count_for(session, kek_ids)

    async def secret_usage(self) -> dict[str, int]:
        """How many live webhook secrets each KEK id seals."""
        async with self.sessions() as session:
            return await webhook_store.count_secrets_by_kek(session)

    async def secrets_in_use(self, kek_ids: list[str]) -> int:
        """How many live webhook secrets ``kek_ids`` still seal."""
        usage = await self.secret_usage()
        return sum(usage.get(kek_id, 0) for kek_id in kek_ids)

    async def record(self, type_: str, data: dict[str, Any]) -> None:
        async with session_scope(self.sessions) as session:
            await record_event(
                session, AuditEvent(service=SERVICE, type=type_, subject=None, data=data)
            )


async def rotate_kek(
    sessions: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    save: SaveKeyring,
    *,
    rewrap: bool = True,
    batch_size: int = BATCH_SIZE,
) -> tuple[Keyring, RewrapReport | None]:
    """Add a KEK, save the keyring (first: the new id must be readable everywhere), rewrap."""
    rotated = keyring.with_new_kek()
    save(rotated)
    rotation = KeyRotation(sessions, rotated, batch_size)
    await rotation.record(
        "keys.rotated", {"kek": rotated.active_kek_id, "previous": keyring.active_kek_id}
    )
    return rotated, (await rotation.rewrap() if rewrap else None)


async def rotate_signing(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring, save: SaveKeyring
) -> Keyring:
    """Add an Ed25519 signing key; older ones stay in the JWKS so what they signed verifies."""
    rotated = keyring.with_new_signing_key()
    save(rotated)
    await KeyRotation(sessions, rotated).record(
        "keys.rotated", {"signing_kid": rotated.active_signing.kid}
    )
    return rotated


async def retire_kek(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring, kek_id: str, save: SaveKeyring
) -> Keyring:
    """Remove ``kek_id`` from the keyring; refused while it is active or wraps any data key or
    webhook secret."""
    if kek_id not in keyring.keks:
        raise RotationRefused(f"{kek_id} is not in the keyring")
    if kek_id == keyring.active_kek_id:
        raise RotationRefused(f"{kek_id} is the active key-encryption key; rotate first")
    rotation = KeyRotation(sessions, keyring)
    in_use = await rotation.in_use([kek_id])
    secrets = await rotation.secrets_in_use([kek_id])
    if in_use or secrets:
        raise RotationRefused(
            f"{kek_id} still wraps {in_use} data key(s) and {secrets} webhook secret(s); "
            "run `lupa keys rewrap` first"
        )
    retired = keyring.without_kek(kek_id)
    save(retired)
    await rotation.record("keys.retired", {"kek": kek_id})
    return retired
