"""``Idempotency-Key`` for POSTs: a retry returns the first response and writes nothing.

The key is claimed at the start of the request's transaction with ``INSERT ... ON CONFLICT DO
NOTHING`` on the primary key (principal, key). A concurrent duplicate blocks on that insert
until the first transaction ends: if it committed, the duplicate replays the stored response;
if it rolled back, the duplicate proceeds as the first. The response is stored in the same
transaction as the write, so a stored response always matches a committed change.

The principal is ``portal:<subject>`` for subject-bound portal tokens (a user retrying after a
token refresh is still recognised) and ``<role>:<token id>`` otherwise (two integrations
sharing a role never see each other's keys).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response

from shared.auth.tokens import Principal
from shared.db import statements
from shared.db.statements import Statement, Transaction
from shared.errors import IdempotencyInProgress, IdempotencyKeyReused, InvalidInput
from shared.idempotency_store import Claim

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")
_UNFINISHED = 0  # status of a claimed key whose response is not stored yet

Handler = Callable[[], Awaitable[tuple[int, Any]]]


def principal_ref(principal: Principal) -> str:
    if principal.role == "portal" and principal.subject is not None:
        return f"portal:{principal.subject}"
    return f"{principal.role}:{principal.token_id}"


def request_hash(method: str, path: str, body: bytes) -> bytes:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


def parse_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not _KEY.match(value) or value != value.strip():
        raise InvalidInput(
            "Idempotency-Key must be 1-255 printable ASCII characters.", field=HEADER
        )
    return value


def claim_for(principal: Principal, key: str, method: str, path: str, body: bytes) -> Claim:
    """The claim of a request with ``key``; ``path`` as Litestar's ``request.url.path``."""
    return Claim(principal_ref(principal), key, request_hash(method, path, body))


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """What the first request with a key sent back (status 0 while it is still running)."""

    request_hash: bytes
    status_code: int
    response: Any  # the handler's JSON body, whatever shape that endpoint answers with


# Every keyed write runs these: prepared statements on the session's connection.
_CLAIM = Statement(
    "INSERT INTO idempotency_keys (principal, key, request_hash, status_code, response)"
    " VALUES ($1, $2, $3, $4, '{}') ON CONFLICT (principal, key) DO NOTHING RETURNING key"
)
_STORED = Statement(
    "SELECT request_hash, status_code, response FROM idempotency_keys"
    " WHERE principal = $1 AND key = $2"
)
_REMEMBER = Statement(
    "UPDATE idempotency_keys SET status_code = $3, response = $4 WHERE principal = $1 AND key = $2"
)


async def _stored(session: Transaction, claim: Claim) -> StoredResponse:
    row = await statements.fetchrow(session, _STORED, claim.principal, claim.key)
    assert row is not None  # the conflicting row exists: keys are never deleted mid-request
    return StoredResponse(*row)


async def _claim(session: Transaction, claim: Claim) -> Response[Any] | None:
    """Take the key for this transaction, or return the stored response of an earlier request."""
    taken = await statements.fetchrow(
        session, _CLAIM, claim.principal, claim.key, claim.request_hash, _UNFINISHED
    )
    if taken is not None:
        return None
    stored = await _stored(session, claim)
    if stored.request_hash != claim.request_hash:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different "
            "request; use a new key for a new request."
        )
    if stored.status_code == _UNFINISHED:
        raise IdempotencyInProgress("A request with this Idempotency-Key is still running.")
    return Response(
        stored.response, status_code=stored.status_code, headers={REPLAY_HEADER: "true"}
    )


async def _remember(session: Transaction, claim: Claim, status: int, body: Any) -> None:
    # jsonb as text: the session's connections take it so.
    await statements.execute(
        session, _REMEMBER, claim.principal, claim.key, status, json.dumps(body)
    )


async def idempotent(
    session: Transaction, request: Request[Any, Any, Any], principal: Principal, handler: Handler
) -> Response[Any]:
    """Run ``handler`` once per Idempotency-Key; it returns (status, JSON-ready body).

    Without the header the handler simply runs. A handler that raises leaves no key behind
    (the transaction rolls back), so a retry of a failed request runs again.
    """
    key = parse_key(request.headers.get(HEADER))
    if key is None:
        status, body = await handler()
        return Response(body, status_code=status)
    claim = claim_for(principal, key, request.method, request.url.path, await request.body())
    replay = await _claim(session, claim)
    if replay is not None:
        return replay
    status, body = await handler()
    await _remember(session, claim, status, body)
    return Response(body, status_code=status)
