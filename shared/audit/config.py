"""Audit trail settings (chain, checkpoints, relay, webhooks), read from the environment once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.audit.checkpoints import CheckpointPolicy

SERVICES = ("consent", "dsar")


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

    @property
    def checkpoint_policy(self) -> CheckpointPolicy:
        return CheckpointPolicy(self.checkpoint_every, self.checkpoint_seconds)

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
