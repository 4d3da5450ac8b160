"""The DSAR service's own settings, read from the environment once at start-up.

The kernel's ``shared.settings.Settings`` covers what every service has (database, HTTP, keys,
logs, audit); what only the DSAR service needs lives here and is passed to ``create_app`` and
the worker.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

SERVICE = "dsar"
DEFAULT_PORT = 8001


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    return default if raw in (None, "") else int(raw)


@dataclass(frozen=True)
class IdentitySettings:
    """The one-time code mailed to a requester who has no portal token."""

    code_digits: int = 6
    code_ttl_seconds: int = 15 * 60
    max_attempts: int = 5

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> IdentitySettings:
        return cls(
            code_digits=_int(env, "LUPA_DSAR_CODE_DIGITS", cls.code_digits),
            code_ttl_seconds=_int(env, "LUPA_DSAR_CODE_TTL_SECONDS", cls.code_ttl_seconds),
            max_attempts=_int(env, "LUPA_DSAR_CODE_ATTEMPTS", cls.max_attempts),
        )


@dataclass(frozen=True)
class RateLimits:
    """Hits per hour on the public endpoints, counted in PostgreSQL across replicas."""

    intake_per_ip: int = 30
    intake_per_address: int = 5
    verify_per_ip: int = 60

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RateLimits:
        return cls(
            intake_per_ip=_int(env, "LUPA_DSAR_INTAKE_PER_IP_HOUR", cls.intake_per_ip),
            intake_per_address=_int(
                env, "LUPA_DSAR_INTAKE_PER_ADDRESS_HOUR", cls.intake_per_address
            ),
            verify_per_ip=_int(env, "LUPA_DSAR_VERIFY_PER_IP_HOUR", cls.verify_per_ip),
        )


# Where a requester answers an officer's question: the company's portal page, given with
# ``{request}`` for the request id. Lupa's own API endpoint by default.
DEFAULT_ANSWER_URL = "http://127.0.0.1:8001/v1/requests/{request}/answer"


@dataclass(frozen=True)
class DsarSettings:
    identity: IdentitySettings = IdentitySettings()
    limits: RateLimits = RateLimits()
    answer_url: str = DEFAULT_ANSWER_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DsarSettings:
        return cls(
            identity=IdentitySettings.from_env(env),
            limits=RateLimits.from_env(env),
            answer_url=env.get("LUPA_DSAR_ANSWER_URL") or DEFAULT_ANSWER_URL,
        )
