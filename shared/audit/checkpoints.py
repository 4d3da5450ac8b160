"""Signed checkpoints: every N events or T seconds, the chain head is signed with Ed25519.

A checkpoint is a compact JWS (``typ`` "audit-checkpoint") over (service, sequence, head hash,
time). Whoever holds the public keys can check that the chain up to that point was not rewritten,
even by someone able to recompute every hash in the database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.auth.tokens import InvalidToken, sign_claims, verify_claims
from shared.keys import Keyring

CHECKPOINT_TYP = "audit-checkpoint"

_DUE = text(
    "SELECT checkpoint_sequence, checkpoint_at FROM audit_chain_state WHERE service = :service"
)
_INSERT = text(
    "INSERT INTO audit_checkpoints (service, sequence, head_hash, token) "
    "VALUES (:service, :sequence, :head, :token) ON CONFLICT DO NOTHING"
)
_MARK = text(
    "UPDATE audit_chain_state SET checkpoint_sequence = :sequence, checkpoint_at = now() "
    "WHERE service = :service"
)


@dataclass(frozen=True)
class CheckpointPolicy:
    every: int = 100
    seconds: float = 60.0

    def due(self, last_sequence: int, last_at: datetime, sequence: int) -> bool:
        if sequence <= last_sequence:
            return False
        waited = (datetime.now(UTC) - last_at).total_seconds()
        return sequence - last_sequence >= self.every or waited >= self.seconds


def sign_checkpoint(keyring: Keyring, service: str, sequence: int, head: bytes) -> str:
    claims = {"service": service, "seq": sequence, "head": head.hex(), "iat": int(time.time())}
    return sign_claims(keyring, claims, typ=CHECKPOINT_TYP)


def checkpoint_problem(keyring: Keyring, row: dict[str, Any]) -> str | None:
    """What is wrong with a stored checkpoint on its own (signature, claims), or None."""
    try:
        claims = verify_claims(keyring, row["token"], CHECKPOINT_TYP)
    except InvalidToken as exc:
        return f"checkpoint signature does not verify ({exc})"
    signed = (claims.get("service"), claims.get("seq"), claims.get("head"))
    if signed != (row["service"], row["sequence"], bytes(row["head_hash"]).hex()):
        return "checkpoint row differs from what was signed"
    return None


async def maybe_checkpoint(
    conn: AsyncConnection,
    service: str,
    sequence: int,
    head: bytes,
    keyring: Keyring,
    policy: CheckpointPolicy,
) -> bool:
    """Sign the head if a checkpoint is due; call while holding the chain-state row lock."""
    last = (await conn.execute(_DUE, {"service": service})).one()
    if not policy.due(last.checkpoint_sequence, last.checkpoint_at, sequence):
        return False
    token = sign_checkpoint(keyring, service, sequence, head)
    await conn.execute(
        _INSERT, {"service": service, "sequence": sequence, "head": head, "token": token}
    )
    await conn.execute(_MARK, {"service": service, "sequence": sequence})
    return True
