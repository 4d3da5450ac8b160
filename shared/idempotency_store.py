"""Idempotency keys of many requests at once, with no HTTP in sight: for a batch of writes that
claims its keys, writes, and stores its answers in one transaction (the consent service's
batched writes). One request at a time goes through ``shared.idempotency.idempotent``, which
claims, replays and stores the same rows of ``idempotency_keys``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.db import statements
from shared.db.statements import Statement, Transaction


@dataclass(frozen=True)
class Claim:
    """A request's hold on its key: who sent it, the key, and SHA-256 of method, path, body."""

    principal: str
    key: str
    request_hash: bytes


# Keys of many writes at once (a batch of optimistic writes, in its one transaction): claimed
# in key order, so two batches never wait on each other's keys in opposite orders; then each
# claim either settles with its response or is let go (its write was not made in the batch).
_CLAIM_MANY = Statement(
    "INSERT INTO idempotency_keys (principal, key, request_hash, status_code, response)"
    " SELECT c.principal, c.key, c.request_hash, 0, '{}'"
    " FROM unnest($1::text[], $2::text[], $3::bytea[]) AS c(principal, key, request_hash)"
    " ORDER BY c.principal, c.key"
    " ON CONFLICT (principal, key) DO NOTHING RETURNING principal, key"
)
_SETTLE_MANY = Statement(
    "WITH remembered AS ("
    " UPDATE idempotency_keys i SET status_code = r.status_code, response = r.response::jsonb"
    " FROM unnest($1::text[], $2::text[], $3::int[], $4::text[])"
    " AS r(principal, key, status_code, response)"
    " WHERE i.principal = r.principal AND i.key = r.key)"
    " DELETE FROM idempotency_keys i USING unnest($5::text[], $6::text[]) AS g(principal, key)"
    " WHERE i.principal = g.principal AND i.key = g.key AND i.status_code = 0"
)


async def claim_many(session: Transaction, claims: Sequence[Claim]) -> list[bool]:
    """Take each key for this transaction: True where taken, False where an earlier request
    (committed, or still running) holds it, or an earlier claim of ``claims`` took it.

    Waits, as ``shared.idempotency`` does for one key, on a key another open transaction has
    just claimed. Only the request that took its key may write; the others are answered by
    ``shared.idempotency.idempotent``."""
    first_of: dict[tuple[str, str], int] = {}
    for n, claim in enumerate(claims):
        first_of.setdefault((claim.principal, claim.key), n)
    sent = [claims[n] for n in first_of.values()]
    rows = await statements.fetch(
        session,
        _CLAIM_MANY,
        [c.principal for c in sent],
        [c.key for c in sent],
        [c.request_hash for c in sent],
    )
    taken = {(principal, key) for principal, key in rows}
    return [
        first_of[(c.principal, c.key)] == n and (c.principal, c.key) in taken
        for n, c in enumerate(claims)
    ]


async def settle_many(
    session: Transaction,
    remembered: Sequence[tuple[Claim, int, str]],
    let_go: Sequence[Claim],
) -> None:
    """Store each (claim, status, JSON body) as its key's response, and free the keys of
    ``let_go`` (claimed in this transaction, their writes not made here: a later try runs)."""
    await statements.execute(
        session,
        _SETTLE_MANY,
        [c.principal for c, _, _ in remembered],
        [c.key for c, _, _ in remembered],
        [status for _, status, _ in remembered],
        [body for _, _, body in remembered],
        [c.principal for c in let_go],
        [c.key for c in let_go],
    )
