"""Key rotation over the whole deployment: the kernel's webhook secrets and every registered
service's data keys (``ServiceSpec.data_keys``) and sealed secrets
(``ServiceSpec.sealed_secrets``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lupa import registry
from shared import key_rotation
from shared.key_rotation import BATCH_SIZE, RewrapReport, RotationRefused, SaveKeyring
from shared.keys import Keyring
from shared.progress import ProgressFactory, quiet

__all__ = ["KeyRotation", "RewrapReport", "RotationRefused", "retire_kek", "rotate_kek"]


def KeyRotation(
    sessions: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    batch_size: int = BATCH_SIZE,
    progress: ProgressFactory = quiet,
) -> key_rotation.KeyRotation:
    stores = [store for spec in registry.SERVICES if (store := spec.data_key_store())]
    sealed = [box for spec in registry.SERVICES if (box := spec.sealed_secret_store())]
    return key_rotation.KeyRotation(
        sessions,
        keyring,
        stores,
        registry.KEY_EVENTS_SERVICE,
        batch_size,
        sealed,
        progress,
    )


async def rotate_kek(
    sessions: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    save: SaveKeyring,
    *,
    rewrap: bool = True,
    batch_size: int = BATCH_SIZE,
    progress: ProgressFactory = quiet,
) -> tuple[Keyring, RewrapReport | None]:
    return await key_rotation.rotate_kek(
        KeyRotation(sessions, keyring, batch_size, progress), save, rewrap=rewrap
    )


async def rotate_signing(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring, save: SaveKeyring
) -> Keyring:
    return await key_rotation.rotate_signing(KeyRotation(sessions, keyring), save)


async def retire_kek(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring, kek_id: str, save: SaveKeyring
) -> Keyring:
    return await key_rotation.retire_kek(KeyRotation(sessions, keyring), kek_id, save)
