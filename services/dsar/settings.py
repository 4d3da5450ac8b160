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


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    return default if raw in (None, "") else float(raw)


@dataclass(frozen=True)
class ExecutionSettings:
    """How the worker runs connector jobs: retries, their backoff, the call timeout and the
    lease after which a job of a vanished worker runs again (longer than the timeout)."""

    max_attempts: int = 8
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 600.0
    timeout_s: float = 10.0
    lease_s: float = 60.0
    concurrency: int = 4  # calls one worker has in flight at once
    poll_s: float = 2.0  # fallback wake-up: backoff timers, lost notifications, expired leases

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ExecutionSettings:
        return cls(
            max_attempts=_int(env, "LUPA_DSAR_JOB_MAX_ATTEMPTS", cls.max_attempts),
            backoff_base_s=_float(env, "LUPA_DSAR_JOB_BACKOFF_BASE_S", cls.backoff_base_s),
            backoff_cap_s=_float(env, "LUPA_DSAR_JOB_BACKOFF_CAP_S", cls.backoff_cap_s),
            timeout_s=_float(env, "LUPA_DSAR_JOB_TIMEOUT_S", cls.timeout_s),
            lease_s=_float(env, "LUPA_DSAR_JOB_LEASE_S", cls.lease_s),
            concurrency=_int(env, "LUPA_DSAR_JOB_CONCURRENCY", cls.concurrency),
            poll_s=_float(env, "LUPA_DSAR_JOB_POLL_S", cls.poll_s),
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
    lift_notice_hours: int = 72  # how long before a restriction is lifted the requester is told
    # The service's public base URL (download links, callbacks, the receipt's issuer); the
    # app and the worker fill it in from the kernel's HTTP settings.
    public_url: str = "http://127.0.0.1:8001"
    execution: ExecutionSettings = ExecutionSettings()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DsarSettings:
        return cls(
            identity=IdentitySettings.from_env(env),
            limits=RateLimits.from_env(env),
            answer_url=env.get("LUPA_DSAR_ANSWER_URL") or DEFAULT_ANSWER_URL,
            lift_notice_hours=_int(env, "LUPA_DSAR_LIFT_NOTICE_HOURS", 72),
            execution=ExecutionSettings.from_env(env),
        )
