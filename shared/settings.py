"""Settings read from the environment once, at start-up, and passed into ``create_app``."""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def lupa_home(env: Mapping[str, str] = os.environ) -> Path:
    """Where local state (embedded PostgreSQL, keys) lives: ``LUPA_HOME`` or ``./.lupa``."""
    return Path(env.get("LUPA_HOME", ".lupa")).resolve()


def keys_path(env: Mapping[str, str] = os.environ) -> Path:
    """The keyring file: ``LUPA_KEYS_FILE`` or ``.lupa/keys/keyring.json``."""
    return Path(env.get("LUPA_KEYS_FILE", str(lupa_home(env) / "keys" / "keyring.json")))


def log_json_from_env(
    env: Mapping[str, str] = os.environ, isatty: Callable[[], bool] | None = None
) -> bool:
    """JSON logs unless a person watches: ``LUPA_LOG_FORMAT`` (``json``/``console``) decides,
    else console lines only when the log stream (stderr) is a terminal."""
    chosen = env.get("LUPA_LOG_FORMAT", "").strip().lower()
    if chosen in ("json", "console"):
        return chosen == "json"
    if chosen:
        raise ValueError(f"LUPA_LOG_FORMAT must be json or console, not {chosen[:20]!r}")
    return not (isatty or sys.stderr.isatty)()


def tracing_from_env(env: Mapping[str, str] = os.environ) -> bool:
    """Whether to export OpenTelemetry traces (``shared.tracing``): only when an OTLP endpoint
    or ``OTEL_TRACES_EXPORTER=otlp`` asks for it and ``OTEL_SDK_DISABLED`` is not true. Lupa
    exports OTLP over HTTP/protobuf only; another exporter or protocol stops start-up rather
    than leaving the operator without the traces they asked for."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    if exporter not in ("", "otlp"):
        raise ValueError(f"OTEL_TRACES_EXPORTER must be otlp or none, not {exporter[:20]!r}")
    endpoint = any(
        env.get(name)
        for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    if not (endpoint or exporter == "otlp"):
        return False
    for name in ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
        protocol = env.get(name, "").strip().lower()
        if protocol not in ("", "http/protobuf"):
            raise ValueError(f"{name} must be http/protobuf, not {protocol[:20]!r}")
    return True


def asyncpg_dsn(url: str) -> str:
    """The plain ``postgresql://`` form of a database URL, as asyncpg wants it."""
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def sqlalchemy_url(url: str) -> str:
    """The ``postgresql+asyncpg://`` form of a database URL, as SQLAlchemy wants it."""
    return "postgresql+asyncpg://" + asyncpg_dsn(url)[len("postgresql://") :]


@dataclass(frozen=True)
class DatabaseSettings:
    url: str
    pool_size: int = 20
    max_overflow: int = 10
    # The hot write path's own connections (``shared.db.write_pool``), opened on demand.
    write_pool_size: int = 10
    # Bounded waits keep a sick database from hanging requests: fail, don't queue forever.
    statement_timeout_ms: int = 5_000
    pool_timeout_s: float = 5.0
    # Set on every connection when given (e.g. "remote_apply": a commit is acknowledged only
    # once the synchronous standbys have applied it); None keeps the server's own setting.
    synchronous_commit: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DatabaseSettings:
        url = env.get("DATABASE_URL")
        if not url:
            raise RuntimeError(
                "DATABASE_URL is not set (lupa run sets it for the embedded PostgreSQL)"
            )
        return cls(
            url=sqlalchemy_url(url),
            pool_size=int(env.get("LUPA_DB_POOL_SIZE", "20")),
            write_pool_size=int(env.get("LUPA_DB_WRITE_POOL_SIZE", "10")),
            statement_timeout_ms=int(env.get("LUPA_DB_STATEMENT_TIMEOUT_MS", "5000")),
        )


@dataclass(frozen=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"
    max_body_bytes: int = 256 * 1024
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (the load balancer's
    # addresses); none by default, so a client cannot choose its own address.
    trusted_proxies: tuple[Network, ...] = ()
    # Browser origins allowed to call the API (CORS); none by default.
    cors_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(
        cls, service: str, env: Mapping[str, str] = os.environ, default_port: int = 8000
    ) -> HttpSettings:
        """``LUPA_<SERVICE>_PORT`` (else the service's ``default_port``), ``LUPA_HOST`` and
        ``LUPA_<SERVICE>_PUBLIC_URL``."""
        port = int(env.get(f"LUPA_{service.upper()}_PORT", str(default_port)))
        host = env.get("LUPA_HOST", "127.0.0.1")
        base = env.get(f"LUPA_{service.upper()}_PUBLIC_URL", f"http://{host}:{port}")
        return cls(
            host=host,
            port=port,
            public_base_url=base.rstrip("/"),
            trusted_proxies=trusted_proxies_from(env.get("LUPA_TRUSTED_PROXIES", "")),
            cors_origins=cors_origins_from(env.get("LUPA_CORS_ORIGINS", "")),
        )


def trusted_proxies_from(raw: str) -> tuple[Network, ...]:
    """``LUPA_TRUSTED_PROXIES``: comma-separated addresses or CIDRs (``10.0.0.0/8,::1``)."""
    try:
        return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in _items(raw))
    except ValueError as exc:
        raise ValueError(f"LUPA_TRUSTED_PROXIES: {exc}") from None


def cors_origins_from(raw: str) -> tuple[str, ...]:
    """``LUPA_CORS_ORIGINS``: exact origins (``https://app.example.com``), comma-separated.
    ``*`` is refused: the API takes bearer tokens, and any-origin access is never meant."""
    origins = []
    for item in _items(raw):
        parts = urlsplit(item)
        if item == "*" or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"LUPA_CORS_ORIGINS: {item[:60]!r} is not an origin like https://host")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"LUPA_CORS_ORIGINS: {item[:60]!r} has more than scheme://host[:port]")
        origins.append(f"{parts.scheme}://{parts.netloc}".lower())
    return tuple(origins)


def _items(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


@dataclass(frozen=True)
class PublicLimits:
    """Hits per window on the public link and sign-in endpoints, counted in PostgreSQL so
    every replica agrees (the DSAR intake and codes have their own, in the DSAR settings)."""

    link_per_ip: int = 300
    link_per_token: int = 30
    sign_in_per_ip: int = 30
    window_s: int = 3600

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> PublicLimits:
        def num(name: str, default: int) -> int:
            raw = env.get(name, "")
            return int(raw) if raw else default

        return cls(
            link_per_ip=num("LUPA_RATE_LINK_PER_IP", cls.link_per_ip),
            link_per_token=num("LUPA_RATE_LINK_PER_TOKEN", cls.link_per_token),
            sign_in_per_ip=num("LUPA_RATE_SIGN_IN_PER_IP", cls.sign_in_per_ip),
            window_s=num("LUPA_RATE_WINDOW_SECONDS", cls.window_s),
        )


@dataclass(frozen=True)
class AuditSettings:
    chain_batch: int = 1000
    checkpoint_every: int = 100
    checkpoint_seconds: float = 60.0
    nats_url: str | None = None
    nats_stream: str = "LUPA_AUDIT"
    # JetStream drops a re-sent Nats-Msg-Id seen within this window (seconds).
    nats_duplicate_window: float = 3600.0
    delivery_batch: int = 500
    poll_seconds: float = 0.5
    webhook_max_attempts: int = 6
    webhook_backoff_base: float = 1.0
    webhook_backoff_max: float = 300.0
    webhook_timeout: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> AuditSettings:
        def num(name: str, default: float) -> float:
            return float(env.get(name, str(default)))

        return cls(
            chain_batch=int(num("LUPA_AUDIT_CHAIN_BATCH", cls.chain_batch)),
            checkpoint_every=int(num("LUPA_AUDIT_CHECKPOINT_EVERY", cls.checkpoint_every)),
            checkpoint_seconds=num("LUPA_AUDIT_CHECKPOINT_SECONDS", cls.checkpoint_seconds),
            nats_url=env.get("LUPA_NATS_URL") or None,
            delivery_batch=int(num("LUPA_RELAY_BATCH", cls.delivery_batch)),
            poll_seconds=num("LUPA_RELAY_POLL_SECONDS", cls.poll_seconds),
            webhook_max_attempts=int(num("LUPA_WEBHOOK_MAX_ATTEMPTS", cls.webhook_max_attempts)),
            webhook_backoff_base=num("LUPA_WEBHOOK_BACKOFF_SECONDS", cls.webhook_backoff_base),
            webhook_backoff_max=num("LUPA_WEBHOOK_BACKOFF_MAX_SECONDS", cls.webhook_backoff_max),
            webhook_timeout=num("LUPA_WEBHOOK_TIMEOUT_SECONDS", cls.webhook_timeout),
        )


@dataclass(frozen=True)
class Settings:
    """What every service process needs to know about its surroundings; what only one
    service needs lives in that service's own settings."""

    service: str
    database: DatabaseSettings
    http: HttpSettings
    keys_path: Path
    log_json: bool = True
    log_level: str = "INFO"
    tracing: bool = False  # OpenTelemetry spans over OTLP/HTTP (``tracing_from_env``)
    audit: AuditSettings = field(default_factory=AuditSettings)
    limits: PublicLimits = field(default_factory=PublicLimits)

    @classmethod
    def from_env(
        cls,
        service: str,
        env: Mapping[str, str] = os.environ,
        isatty: Callable[[], bool] | None = None,
        default_port: int = 8000,
    ) -> Settings:
        return cls(
            service=service,
            database=DatabaseSettings.from_env(env),
            http=HttpSettings.from_env(service, env, default_port),
            keys_path=keys_path(env),
            log_json=log_json_from_env(env, isatty),
            log_level=env.get("LUPA_LOG_LEVEL", "INFO").upper(),
            tracing=tracing_from_env(env),
            audit=AuditSettings.from_env(env),
            limits=PublicLimits.from_env(env),
        )
