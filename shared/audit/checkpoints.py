"""Signed checkpoints: every N events or T seconds, the chain head is signed with Ed25519.

A checkpoint is a compact JWS (header ``typ`` "audit-checkpoint+jwt", ``aud``
"urn:lupa:audit-checkpoint") over (service, sequence, head hash,
time). Whoever holds the public keys and a copy of a checkpoint kept outside the database can
check that the chain up to that point was not rewritten, even by someone able to recompute
every hash in the database (and delete the checkpoint rows there).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypedDict

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared.audit.cloudevents import SPEC_VERSION, rfc3339, source_of
from shared.auth.kinds import TokenKind
from shared.auth.tokens import InvalidToken, sign_claims, verify_claims
from shared.keys import Keyring
from shared.settings import AuditSettings

# Checkpoints signed before the kind had its own header typ and aud still verify: an auditor
# keeps copies of them outside the database, and they stay evidence for as long as the chain.
CHECKPOINT_TOKEN = TokenKind(
    claim="audit-checkpoint",
    header_typ="audit-checkpoint+jwt",
    audience="urn:lupa:audit-checkpoint",
    accepts_legacy=True,
)
# Published to NATS as CloudEvents of their own type, next to the events they sign.
CHECKPOINT_EVENT_TYPE = "fi.lupa.audit.checkpoint"
# Checkpoint event ids are UUIDv5 in this namespace (a fixed, random UUID of Lupa's own).
_CHECKPOINT_ID_NAMESPACE = uuid.UUID("5f0d3c1e-8b6a-4d4e-9a57-3c2b7e1f6a90")

_LAST = text(
    "SELECT checkpoint_sequence, checkpoint_at FROM audit_chain_state WHERE service = :service"
)
_HASHES = text(
    "SELECT sequence, hash FROM audit_events "
    "WHERE service = :service AND sequence = ANY(CAST(:seqs AS bigint[])) ORDER BY sequence"
)
_INSERT = text(
    "INSERT INTO audit_checkpoints (service, sequence, head_hash, token) "
    "VALUES (:service, :sequence, :head, :token) ON CONFLICT DO NOTHING"
)
_MARK = text(
    "UPDATE audit_chain_state SET checkpoint_sequence = :sequence, checkpoint_at = now() "
    "WHERE service = :service"
)
_AFTER = text(
    "SELECT service, sequence, head_hash, token, created_at FROM audit_checkpoints "
    "WHERE service = :service AND sequence > :after AND sequence <= :upto "
    "ORDER BY sequence LIMIT :limit"
)


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    """An ``audit_checkpoints`` row: the signed head and the token that signs it."""

    service: str
    sequence: int
    head_hash: bytes
    token: str
    created_at: datetime


class PublicCheckpoint(TypedDict):
    """A checkpoint as the feed, NATS and ``lupa audit checkpoints`` hand it out: the JSON
    itself (one line of what ``lupa audit verify --checkpoints`` reads back)."""

    service: str
    sequence: int
    head: str
    token: str
    time: str


class CheckpointEvent(TypedDict):
    """A checkpoint as a CloudEvent (NATS): ``data`` is the ``PublicCheckpoint`` line itself.

    No ``sequence`` extension: that attribute orders the events of a source, and a checkpoint
    at sequence N is not an event of the chain."""

    specversion: str
    id: str
    source: str
    type: str
    time: str
    datacontenttype: str
    data: PublicCheckpoint


@dataclass(frozen=True, slots=True)
class SignedHead:
    """What a checkpoint's signature covers: ``service``'s chain had ``head`` at ``sequence``."""

    service: str
    sequence: int
    head: bytes


@dataclass(frozen=True)
class CheckpointPolicy:
    every: int = 100
    seconds: float = 60.0

    @classmethod
    def of(cls, settings: AuditSettings) -> CheckpointPolicy:
        return cls(settings.checkpoint_every, settings.checkpoint_seconds)

    def due_sequences(self, last_sequence: int, last_at: datetime, head: int) -> list[int]:
        """What to sign in (last_sequence, head]: every ``every``-th sequence, and the head
        itself once ``seconds`` have passed since the last checkpoint."""
        if head <= last_sequence:
            return []
        due = list(range(last_sequence + max(1, self.every), head + 1, max(1, self.every)))
        waited = (datetime.now(UTC) - last_at).total_seconds()
        if waited >= self.seconds and (not due or due[-1] != head):
            due.append(head)
        return due


def sign_checkpoint(keyring: Keyring, service: str, sequence: int, head: bytes) -> str:
    claims = {"service": service, "seq": sequence, "head": head.hex(), "iat": int(time.time())}
    return sign_claims(keyring, claims, CHECKPOINT_TOKEN)


def signed_head(keyring: Keyring, token: str) -> SignedHead:
    """What a checkpoint token signs; ``InvalidToken`` if its signature or claims do not hold."""
    claims = verify_claims(keyring, token, CHECKPOINT_TOKEN)
    try:
        return SignedHead(
            str(claims["service"]), int(claims["seq"]), bytes.fromhex(str(claims["head"]))
        )
    except (KeyError, ValueError) as exc:
        raise InvalidToken(f"malformed checkpoint claims: {exc!r}") from None


def checkpoint_problem(keyring: Keyring, row: CheckpointRow) -> str | None:
    """What is wrong with a stored checkpoint on its own (signature, claims), or None."""
    try:
        signed = signed_head(keyring, row.token)
    except InvalidToken as exc:
        return f"checkpoint signature does not verify ({exc})"
    if signed != SignedHead(row.service, row.sequence, row.head_hash):
        return "checkpoint row differs from what was signed"
    return None


async def sign_due_checkpoints(
    conn: AsyncConnection, service: str, head: int, keyring: Keyring, policy: CheckpointPolicy
) -> int:
    """Sign every checkpoint due up to ``head``; call while holding the chain-state row lock.

    A batch of 1000 events gets a checkpoint at each N-th sequence inside it, not only at its
    end, so a backlog is signed as densely as a trickle.
    """
    last = (await conn.execute(_LAST, {"service": service})).one()
    due = policy.due_sequences(last.checkpoint_sequence, last.checkpoint_at, head)
    if not due:
        return 0
    hashes = (await conn.execute(_HASHES, {"service": service, "seqs": due})).all()
    signed = [
        {
            "service": service,
            "sequence": sequence,
            "head": bytes(hash_),
            "token": sign_checkpoint(keyring, service, sequence, bytes(hash_)),
        }
        for sequence, hash_ in hashes
    ]
    await conn.execute(_INSERT, signed)
    await conn.execute(_MARK, {"service": service, "sequence": due[-1]})
    return len(signed)


def public_checkpoint(row: CheckpointRow) -> PublicCheckpoint:
    return {
        "service": row.service,
        "sequence": row.sequence,
        "head": row.head_hash.hex(),
        "token": row.token,
        "time": rfc3339(row.created_at),
    }


def checkpoint_event_id(checkpoint: PublicCheckpoint) -> str:
    """The same for every re-send of one checkpoint (JetStream drops those by it), and never
    shared by two chains: the signed head hash covers every event id of its chain, which are
    random, so two deployments' checkpoints at one sequence have different heads."""
    name = f"{checkpoint['service']}/{checkpoint['sequence']}/{checkpoint['head']}"
    return str(uuid.uuid5(_CHECKPOINT_ID_NAMESPACE, name))


def checkpoint_event(checkpoint: PublicCheckpoint) -> CheckpointEvent:
    """``checkpoint`` as a CloudEvent; ``time`` is when the head was signed."""
    return {
        "specversion": SPEC_VERSION,
        "id": checkpoint_event_id(checkpoint),
        "source": source_of(checkpoint["service"]),
        "type": CHECKPOINT_EVENT_TYPE,
        "time": checkpoint["time"],
        "datacontenttype": "application/json",
        "data": checkpoint,
    }


async def stored_checkpoints(
    db: AsyncConnection | AsyncSession,
    service: str,
    after: int = 0,
    limit: int | None = None,
    upto: int = 2**62,
) -> list[CheckpointRow]:
    """Up to ``limit`` (None: all) checkpoint rows with ``after`` < sequence <= ``upto``, oldest
    first; by default every checkpoint of the chain, whose sequences start at 1."""
    params = {"service": service, "after": after, "upto": upto, "limit": limit}
    return [CheckpointRow(**r) for r in (await db.execute(_AFTER, params)).mappings()]


async def checkpoints_after(
    db: AsyncConnection | AsyncSession,
    service: str,
    after: int,
    limit: int,
    upto: int = 2**62,
) -> list[PublicCheckpoint]:
    """``stored_checkpoints`` as they are handed out."""
    return [public_checkpoint(r) for r in await stored_checkpoints(db, service, after, limit, upto)]
