"""Key rotation: add a key-encryption key, rewrap every data key and reseal every webhook
secret (and every secret a service seals under a KEK) to it, retire old ones.

The keyring is saved *before* anything is rewrapped, so every key id that reaches the database
is in the file a running process re-reads (vaults and the relay reload on an unknown id).
Old KEKs stay in the keyring until ``retire``, which refuses while any data key or sealed
secret still uses one: a retired KEK under a webhook secret would leave that subscription
undeliverable, under a DSAR connector's secret every job to that connector unsigned.

The kernel owns the webhook secrets; each service that keeps data keys contributes a
``DataKeyStore``, and one that seals secrets under a KEK a ``SealedSecretStore`` (the
composition root hands the lists in), so rotation covers the whole deployment without the
kernel knowing any service.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.audit import webhook_store
from shared.audit.outbox import AuditEvent, record_event
from shared.audit.webhook_store import SealedSecret
from shared.audit.webhooks import open_secret, seal_secret
from shared.crypto import DecryptionFailed, unwrap_data_key, wrap_data_key
from shared.db.engine import session_scope
from shared.keys import Keyring, UnknownKey
from shared.progress import Counter, ProgressFactory, quiet

BATCH_SIZE = 500
RESUME = "run `lupa keys rewrap` to continue"

SaveKeyring = Callable[[Keyring], None]


class RotationRefused(Exception):
    """The keyring change would strand data keys or is not possible; nothing was changed."""


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """One data key as stored: wrapped by ``kek_id``, bound to its ``owner`` (associated data)."""

    owner: uuid.UUID
    kek_id: str
    wrapped: bytes


class DataKeyStore(Protocol):
    """Where a service keeps data keys wrapped by a KEK (the consent service: one per subject)."""

    @property
    def service(self) -> str:
        """The service whose audit chain records this store's rewraps."""
        ...

    async def count_by_kek(self, session: AsyncSession) -> dict[str, int]: ...

    async def lock_batch(
        self, session: AsyncSession, kek_ids: Sequence[str], after: uuid.UUID | None, limit: int
    ) -> list[WrappedKey]:
        """The next ``limit`` keys under ``kek_ids`` past ``after`` (by owner), locked; rows
        another transaction holds are skipped."""
        ...

    async def store_rewrapped(
        self, session: AsyncSession, keys: list[WrappedKey], now: datetime
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class SealedValue:
    """One secret as a service stores it: sealed by ``kek_id``; ``name`` is the row's key."""

    name: str
    kek_id: str
    sealed: bytes


class SealedSecretStore(Protocol):
    """Where a service keeps secrets sealed directly by a KEK, one per named row (the DSAR
    service: each connector's signing secret). The store seals and opens: only it knows the
    associated data that binds a secret to its row."""

    @property
    def service(self) -> str:
        """The service whose audit chain records this store's reseals."""
        ...

    @property
    def kind(self) -> str:
        """What the secrets are, plural and in snake case (``connector_secrets``): names the
        audit event ``keys.<kind>_rewrapped`` and the counts ``lupa keys`` prints."""
        ...

    async def count_by_kek(self, session: AsyncSession) -> dict[str, int]: ...

    async def lock_batch(
        self, session: AsyncSession, kek_ids: Sequence[str], after: str | None, limit: int
    ) -> list[SealedValue]:
        """The next ``limit`` secrets under ``kek_ids`` past ``after`` (by name), locked; rows
        another transaction holds are skipped."""
        ...

    def reseal(self, keyring: Keyring, value: SealedValue) -> SealedValue:
        """``value`` sealed by the keyring's active KEK; raises ``DecryptionFailed`` or
        ``UnknownKey`` when it does not open."""
        ...

    async def store_resealed(self, session: AsyncSession, values: list[SealedValue]) -> None: ...


@dataclass(frozen=True)
class RewrapReport:
    kek: str
    rewrapped: int
    batches: int
    remaining: int  # still under an old KEK: rows busy during the pass, or that failed to unwrap
    failed: int
    secrets_resealed: int = 0  # webhook signing secrets moved to ``kek``
    secrets_remaining: int = 0  # webhook secrets still under an old KEK (busy, or unreadable)
    # Per SealedSecretStore kind: how many were resealed, and how many stay under an old KEK.
    sealed_resealed: dict[str, int] = field(default_factory=dict)
    sealed_remaining: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Pass:
    rewrapped: int = 0
    batches: int = 0
    failed: int = 0

    def __add__(self, other: _Pass) -> _Pass:
        return _Pass(
            self.rewrapped + other.rewrapped,
            self.batches + other.batches,
            self.failed + other.failed,
        )


class KeyRotation:
    """Rewraps and counts wrapped keys with one keyring; each batch is its own short transaction.

    ``events_service`` is the audit chain that records deployment-wide key events (rotated,
    retired, webhook secrets resealed).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        stores: Sequence[DataKeyStore],
        events_service: str,
        batch_size: int = BATCH_SIZE,
        sealed_stores: Sequence[SealedSecretStore] = (),
        progress: ProgressFactory = quiet,
    ) -> None:
        self.sessions = sessions
        self.progress = progress
        self.keyring = keyring
        self.stores = tuple(stores)
        self.events_service = events_service
        self.batch_size = batch_size
        self.sealed_stores = tuple(sealed_stores)

    def with_keyring(self, keyring: Keyring) -> KeyRotation:
        return KeyRotation(
            self.sessions,
            keyring,
            self.stores,
            self.events_service,
            self.batch_size,
            self.sealed_stores,
            self.progress,
        )

    async def usage(self) -> dict[str, int]:
        """How many data keys each KEK id wraps (ids not in this keyring included)."""
        totals: dict[str, int] = {}
        async with self.sessions() as session:
            for store in self.stores:
                for kek_id, count in (await store.count_by_kek(session)).items():
                    totals[kek_id] = totals.get(kek_id, 0) + count
        return totals

    async def rewrap(self) -> RewrapReport:
        """Rewrap every data key held by another KEK of this keyring to the active KEK, and
        reseal the webhook secrets likewise.

        Each batch commits on its own, so an interrupted pass keeps what it did and the next
        one (``lupa keys rewrap``) takes only the keys still under an old KEK."""
        target = self.keyring.active_kek_id
        old = [kek_id for kek_id in self.keyring.keks if kek_id != target]
        done = _Pass()
        total = await self.in_use(old) if old else 0  # one GROUP BY per store, for the bar
        with self.progress("rewrapping data keys", total, resume=RESUME) as bar:
            for store in self.stores if old else ():
                done += await self._rewrap_store(store, old, bar)
        resealed = await self.reseal_webhook_secrets(old) if old else 0
        sealed = (
            {store.kind: await self._reseal_store(store, old) for store in self.sealed_stores}
            if old
            else {}
        )
        return RewrapReport(
            kek=target,
            rewrapped=done.rewrapped,
            batches=done.batches,
            remaining=await self.in_use(old) if old else 0,
            failed=done.failed,
            secrets_resealed=resealed,
            secrets_remaining=await self.secrets_in_use(old) if old else 0,
            sealed_resealed=sealed,
            sealed_remaining=await self.sealed_in_use(old) if old else {},
        )

    async def _rewrap_store(self, store: DataKeyStore, old: list[str], bar: Counter) -> _Pass:
        after: uuid.UUID | None = None
        done = _Pass()
        while True:
            async with session_scope(self.sessions) as session:
                keys = await store.lock_batch(session, old, after, self.batch_size)
                if not keys:
                    return done
                after = keys[-1].owner
                rewrapped = self._rewrapped(keys)
                if rewrapped:
                    await store.store_rewrapped(session, rewrapped, datetime.now(UTC))
                    await self._record(
                        session,
                        "keys.rewrapped",
                        {"kek": self.keyring.active_kek_id, "count": len(rewrapped)},
                        service=store.service,
                    )
            done += _Pass(len(rewrapped), 1, len(keys) - len(rewrapped))
            bar.advance(len(keys))  # after the commit: the count never runs ahead of the data

    def _rewrapped(self, keys: list[WrappedKey]) -> list[WrappedKey]:
        target = self.keyring.active_kek_id
        new_kek = self.keyring.kek(target)
        out = []
        for key in keys:
            try:
                dek = unwrap_data_key(self.keyring.kek(key.kek_id), key.wrapped, key.owner)
            except DecryptionFailed:
                continue  # left under its old KEK and counted; retire will refuse that KEK
            out.append(WrappedKey(key.owner, target, wrap_data_key(new_kek, dek, key.owner)))
        return out

    async def reseal_webhook_secrets(self, old: list[str]) -> int:
        """Reseal the webhook secrets under ``old`` KEKs with the active one (one transaction:
        subscriptions are few), recorded like the data keys."""
        async with session_scope(self.sessions) as session:
            rows = await webhook_store.lock_secrets_under(session, old)
            resealed = self._resealed(rows)
            if resealed:
                await webhook_store.store_resealed(session, resealed)
                await self._record(
                    session,
                    "keys.webhook_secrets_rewrapped",
                    {"kek": self.keyring.active_kek_id, "count": len(resealed)},
                )
        return len(resealed)

    def _resealed(self, stored: list[SealedSecret]) -> list[SealedSecret]:
        out = []
        for row in stored:
            try:
                secret = open_secret(self.keyring, row.id, row.kek_id, row.sealed_secret)
            except (DecryptionFailed, UnknownKey):
                continue  # left as it is and counted; retire will refuse that KEK
            out.append(SealedSecret(row.id, *seal_secret(self.keyring, row.id, secret)))
        return out

    async def _reseal_store(self, store: SealedSecretStore, old: list[str]) -> int:
        """Reseal ``store``'s secrets under ``old`` KEKs in batches, each its own transaction
        with one ``keys.<kind>_rewrapped`` event in the store's chain."""
        after: str | None = None
        resealed = 0
        while True:
            async with session_scope(self.sessions) as session:
                values = await store.lock_batch(session, old, after, self.batch_size)
                if not values:
                    return resealed
                after = values[-1].name
                batch = self._resealed_values(store, values)
                if batch:
                    await store.store_resealed(session, batch)
                    await self._record(
                        session,
                        f"keys.{store.kind}_rewrapped",
                        {"kek": self.keyring.active_kek_id, "count": len(batch)},
                        service=store.service,
                    )
            resealed += len(batch)

    def _resealed_values(
        self, store: SealedSecretStore, values: list[SealedValue]
    ) -> list[SealedValue]:
        out = []
        for value in values:
            try:
                out.append(store.reseal(self.keyring, value))
            except (DecryptionFailed, UnknownKey):
                continue  # left as it is and counted; retire will refuse that KEK
        return out

    async def in_use(self, kek_ids: list[str]) -> int:
        """How many data keys ``kek_ids`` still wrap."""
        usage = await self.usage()
        return sum(usage.get(kek_id, 0) for kek_id in kek_ids)

    async def secret_usage(self) -> dict[str, int]:
        """How many live webhook secrets each KEK id seals."""
        async with self.sessions() as session:
            return await webhook_store.count_secrets_by_kek(session)

    async def secrets_in_use(self, kek_ids: list[str]) -> int:
        """How many live webhook secrets ``kek_ids`` still seal."""
        usage = await self.secret_usage()
        return sum(usage.get(kek_id, 0) for kek_id in kek_ids)

    async def sealed_usage(self) -> dict[str, dict[str, int]]:
        """Per sealed-secret kind, how many secrets each KEK id seals."""
        async with self.sessions() as session:
            return {store.kind: await store.count_by_kek(session) for store in self.sealed_stores}

    async def sealed_in_use(self, kek_ids: list[str]) -> dict[str, int]:
        """Per sealed-secret kind, how many secrets ``kek_ids`` still seal."""
        usage = await self.sealed_usage()
        return {
            kind: sum(counts.get(kek_id, 0) for kek_id in kek_ids) for kind, counts in usage.items()
        }

    async def record(self, type_: str, data: dict[str, Any]) -> None:
        """A deployment-wide key event, in its own transaction."""
        async with session_scope(self.sessions) as session:
            await self._record(session, type_, data)

    async def _record(
        self, session: AsyncSession, type_: str, data: dict[str, Any], service: str | None = None
    ) -> None:
        event = AuditEvent(
            service=service or self.events_service, type=type_, subject=None, data=data
        )
        await record_event(session, event)


async def rotate_kek(
    rotation: KeyRotation, save: SaveKeyring, *, rewrap: bool = True
) -> tuple[Keyring, RewrapReport | None]:
    """Add a KEK, save the keyring (first: the new id must be readable everywhere), rewrap."""
    before = rotation.keyring
    rotated = before.with_new_kek()
    save(rotated)
    rotation = rotation.with_keyring(rotated)
    await rotation.record(
        "keys.rotated", {"kek": rotated.active_kek_id, "previous": before.active_kek_id}
    )
    return rotated, (await rotation.rewrap() if rewrap else None)


async def rotate_signing(rotation: KeyRotation, save: SaveKeyring) -> Keyring:
    """Add an Ed25519 signing key; older ones stay in the JWKS so what they signed verifies."""
    rotated = rotation.keyring.with_new_signing_key()
    save(rotated)
    await rotation.with_keyring(rotated).record(
        "keys.rotated", {"signing_kid": rotated.active_signing.kid}
    )
    return rotated


async def retire_kek(rotation: KeyRotation, kek_id: str, save: SaveKeyring) -> Keyring:
    """Remove ``kek_id`` from the keyring; refused while it is active or wraps any data key,
    webhook secret or other sealed secret."""
    keyring = rotation.keyring
    if kek_id not in keyring.keks:
        raise RotationRefused(f"{kek_id} is not in the keyring")
    if kek_id == keyring.active_kek_id:
        raise RotationRefused(f"{kek_id} is the active key-encryption key; rotate first")
    in_use = await rotation.in_use([kek_id])
    secrets = await rotation.secrets_in_use([kek_id])
    sealed = await rotation.sealed_in_use([kek_id])
    if in_use or secrets or any(sealed.values()):
        others = "".join(
            f", {n} {kind.replace('_', ' ').removesuffix('s')}(s)" for kind, n in sealed.items()
        )
        raise RotationRefused(
            f"{kek_id} still wraps {in_use} data key(s), {secrets} webhook secret(s){others}; "
            "run `lupa keys rewrap` first"
        )
    retired = keyring.without_kek(kek_id)
    save(retired)
    await rotation.record("keys.retired", {"kek": kek_id})
    return retired
