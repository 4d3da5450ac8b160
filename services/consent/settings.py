"""The consent service's own settings, read from the environment once at start-up.

The kernel's ``shared.settings.Settings`` covers what every service has (database, HTTP, keys,
logs, audit); what only the consent service needs lives here and is passed to ``create_app``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

SERVICE = "consent"
DEFAULT_PORT = 8000


# The shipped defaults of the controller's name and contact: placeholders, not a controller.
PLACEHOLDER_NAME = "Lupa data controller"
PLACEHOLDER_CONTACT = "privacy@lupa.invalid"


@dataclass(frozen=True)
class ControllerSettings:
    """Who is responsible for the processing, as printed on every receipt (Kantara CR v1.1
    ``piiControllers``). Without a policy URL, receipts point at ``<public base URL>/privacy``,
    where the service shows ``privacy_notice_file`` or, without one, a page it generates from
    these details. Storage location defaults to the jurisdiction."""

    name: str = PLACEHOLDER_NAME
    contact: str = PLACEHOLDER_CONTACT
    jurisdiction: str = "FI"
    policy_url: str | None = None
    address: str | None = None
    email: str | None = None
    phone: str | None = None
    url: str | None = None
    storage_location: str | None = None
    privacy_notice_file: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ControllerSettings:
        return cls(
            name=env.get("LUPA_CONTROLLER_NAME", cls.name),
            contact=env.get("LUPA_CONTROLLER_CONTACT", cls.contact),
            jurisdiction=env.get("LUPA_JURISDICTION", cls.jurisdiction),
            policy_url=env.get("LUPA_POLICY_URL") or None,
            address=env.get("LUPA_CONTROLLER_ADDRESS") or None,
            email=env.get("LUPA_CONTROLLER_EMAIL") or None,
            phone=env.get("LUPA_CONTROLLER_PHONE") or None,
            url=env.get("LUPA_CONTROLLER_URL") or None,
            storage_location=env.get("LUPA_STORAGE_LOCATION") or None,
            privacy_notice_file=env.get("LUPA_PRIVACY_NOTICE_FILE") or None,
        )

    def missing_details(self) -> list[str]:
        """The settings Kantara CR v1.1 requires of a controller that are unset or still the
        shipped placeholder, by environment variable name."""
        placeholders = {
            "LUPA_CONTROLLER_NAME": self.name in ("", PLACEHOLDER_NAME),
            "LUPA_CONTROLLER_CONTACT": self.contact in ("", PLACEHOLDER_CONTACT),
            "LUPA_CONTROLLER_ADDRESS": not self.address,
            "LUPA_CONTROLLER_EMAIL": not self.email or self.email.endswith(".invalid"),
            "LUPA_CONTROLLER_PHONE": not self.phone,
        }
        return [name for name, missing in placeholders.items() if missing]


class SettingsRefused(RuntimeError):
    """A combination of settings the service will not start with; the message names them."""


@dataclass(frozen=True)
class CheckReplica:
    """A synchronous standby the check path reads from while the guard finds it safe
    (``services/consent/service/check_replica.py``). ``name`` is the standby's
    ``application_name`` in its ``primary_conninfo``, as listed in the primary's
    ``synchronous_standby_names``."""

    url: str
    name: str
    poll_s: float = 1.0


@dataclass(frozen=True)
class CheckBounds:
    """Bounds of the hot path: a sick database must answer "no" quickly, not queue requests.
    ``pool_size`` None means the database pool's size; ``replica`` None: checks read the
    primary."""

    pool_size: int | None = None
    statement_timeout_ms: int = 1_000
    acquire_timeout_s: float = 1.0
    replica: CheckReplica | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CheckBounds:
        pool = env.get("LUPA_CHECK_POOL_SIZE")
        return cls(
            pool_size=int(pool) if pool else None,
            statement_timeout_ms=int(env.get("LUPA_CHECK_STATEMENT_TIMEOUT_MS", "1000")),
            acquire_timeout_s=float(env.get("LUPA_CHECK_ACQUIRE_TIMEOUT_S", "1.0")),
            replica=_check_replica(env),
        )


def _check_replica(env: Mapping[str, str]) -> CheckReplica | None:
    url = env.get("LUPA_CHECK_DATABASE_URL") or None
    name = env.get("LUPA_CHECK_REPLICA_NAME") or None
    if url is None:
        return None
    if name is None:
        raise SettingsRefused(
            "LUPA_CHECK_DATABASE_URL is set but LUPA_CHECK_REPLICA_NAME is not: name the"
            " standby (its application_name in primary_conninfo) so Lupa can verify it is a"
            " synchronous standby before serving checks from it"
        )
    poll_s = float(env.get("LUPA_CHECK_REPLICA_POLL_S", "1.0"))
    if poll_s <= 0:
        raise SettingsRefused("LUPA_CHECK_REPLICA_POLL_S must be a positive number of seconds")
    return CheckReplica(url=url, name=name, poll_s=poll_s)


@dataclass(frozen=True)
class ExportBounds:
    """Bounds of an export: a sick database fails it quickly instead of hanging it."""

    connect_timeout_s: float = 2.0
    # The longest PostgreSQL may take to produce the next chunk of rows (not the whole file).
    read_timeout_s: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ExportBounds:
        return cls(
            connect_timeout_s=float(env.get("LUPA_EXPORT_CONNECT_TIMEOUT_S", "2.0")),
            read_timeout_s=float(env.get("LUPA_EXPORT_READ_TIMEOUT_S", "30.0")),
        )


@dataclass(frozen=True)
class ConsentSettings:
    controller: ControllerSettings = field(default_factory=ControllerSettings)
    check: CheckBounds = field(default_factory=CheckBounds)
    export: ExportBounds = field(default_factory=ExportBounds)
    # The Standard Webhooks secret (whsec_...) DSAR connector jobs are signed with; None: the
    # connector endpoint answers 503.
    connector_secret: str | None = None
    # The DSAR service, whose /v1/stats the CX dashboard reads server-side: LUPA_DSAR_URL, else
    # the DSAR service of this host on LUPA_DSAR_PORT (as ``lupa run`` starts it), else 8001.
    dsar_url: str = "http://127.0.0.1:8001"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ConsentSettings:
        return cls(
            controller=ControllerSettings.from_env(env),
            check=CheckBounds.from_env(env),
            export=ExportBounds.from_env(env),
            connector_secret=env.get("LUPA_CONSENT_CONNECTOR_SECRET") or None,
            dsar_url=env.get("LUPA_DSAR_URL")
            or f"http://127.0.0.1:{env.get('LUPA_DSAR_PORT') or '8001'}",
        )
