"""The services that make up a Lupa deployment, each described once.

Adding a service means adding its package under ``services/`` and one entry here: ``lupa run``
starts it, ``lupa serve`` serves it, ``lupa migrate`` applies its migrations, the relay and
``lupa audit`` cover its audit chain, ``lupa keys`` rotates its data keys and sealed secrets,
and its own commands join the ``lupa`` command.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.consent import settings as consent
from services.dsar import settings as dsar

if TYPE_CHECKING:  # the CLI starts without loading the rotation machinery
    from shared.key_rotation import DataKeyStore, SealedSecretStore

SERVICES_ROOT = Path(__file__).resolve().parents[1] / "services"


@dataclass(frozen=True)
class ServiceSpec:
    """One service. Code is named by module path and loaded only when a command needs it;
    the registry reads just the service's name and port from its settings module."""

    name: str  # also its audit chain (``lupa audit --service``) and CloudEvents source
    default_port: int
    app_factory: str  # "module:function", a uvicorn factory reading the environment
    cli: str | None = None  # a module with ``register(commands)`` adding the service's commands
    data_keys: str | None = None  # "module:Class", a shared.key_rotation.DataKeyStore
    sealed_secrets: str | None = None  # "module:Class", a shared.key_rotation.SealedSecretStore

    @property
    def migrations(self) -> Path:
        """Alembic version files: ``services/<name>/db/migrations``."""
        return SERVICES_ROOT / self.name / "db" / "migrations"

    def data_key_store(self) -> DataKeyStore | None:
        store: DataKeyStore | None = _load(self.data_keys)() if self.data_keys else None
        return store

    def sealed_secret_store(self) -> SealedSecretStore | None:
        store: SealedSecretStore | None = (
            _load(self.sealed_secrets)() if self.sealed_secrets else None
        )
        return store


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        name=consent.SERVICE,
        default_port=consent.DEFAULT_PORT,
        app_factory="services.consent.app:create_app_from_env",
        cli="services.consent.cli",
        data_keys="services.consent.db.key_rotation:SubjectKeys",
    ),
    ServiceSpec(
        name=dsar.SERVICE,
        default_port=dsar.DEFAULT_PORT,
        app_factory="services.dsar.app:create_app_from_env",
        cli="services.dsar.cli",
        data_keys="services.dsar.service.key_rotation:RequestDataKeys",
        sealed_secrets="services.dsar.service.key_rotation:ConnectorSecrets",
    ),
)
# Deployment-wide key events (a KEK rotated or retired) are recorded in this service's chain.
KEY_EVENTS_SERVICE = SERVICES[0].name


def names() -> tuple[str, ...]:
    return tuple(spec.name for spec in SERVICES)


def get(name: str) -> ServiceSpec:
    for spec in SERVICES:
        if spec.name == name:
            return spec
    raise KeyError(name)


def migration_locations() -> Sequence[Path]:
    return [spec.migrations for spec in SERVICES]


def _load(path: str) -> Any:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)
