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
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth.tokens import Principal
from shared.db.tables import idempotency_keys
from shared.errors import IdempotencyInProgress, IdempotencyKeyReused, InvalidInput

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


@dataclass(frozen=True)
class Claim:
    principal: str
    key: str
    request_hash: bytes


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """What the first request with a key sent back (status 0 while it is still running)."""

    request_hash: bytes
    status_code: int
    response: Any  # the handler's JSON body, whatever shape that endpoint answers with


async def _stored(session: AsyncSession, claim: Claim) -> StoredResponse:
    found = await session.execute(
        select(
            idempotency_keys.c.request_hash,
            idempotency_keys.c.status_code,
            idempotency_keys.c.response,
        ).where(
            idempotency_keys.c.principal == claim.principal,
            idempotency_keys.c.key == claim.key,
        )
    )
    return StoredResponse(**found.mappings().one())


async def _claim(session: AsyncSession, claim: Claim) -> Response[Any] | None:
    """Take the key for this transaction, or return the stored response of an earlier request."""
    inserted = await session.execute(
        pg_insert(idempotency_keys)
        .values(
            principal=claim.principal,
            key=claim.key,
            request_hash=claim.request_hash,
            status_code=_UNFINISHED,
            response={},
        )
        .on_conflict_do_nothing(index_elements=["principal", "key"])
        .returning(idempotency_keys.c.key)
    )
    if inserted.first() is not None:
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


async def _remember(session: AsyncSession, claim: Claim, status: int, body: Any) -> None:
    await session.execute(
        update(idempotency_keys)
        .where(
            idempotency_keys.c.principal == claim.principal,
            idempotency_keys.c.key == claim.key,
        )
        .values(status_code=status, response=body)
    )


async def idempotent(
    session: AsyncSession, request: Request[Any, Any, Any], principal: Principal, handler: Handler
) -> Response[Any]:
    """Run ``handler`` once per Idempotency-Key; it returns (status, JSON-ready body).

    Without the header the handler simply runs. A handler that raises leaves no key behind
    (the transaction rolls back), so a retry of a failed request runs again.
    """
    key = parse_key(request.headers.get(HEADER))
    if key is None:
        status, body = await handler()
        return Response(body, status_code=status)
    claim = Claim(
        principal_ref(principal),
        key,
        request_hash(request.method, request.url.path, await request.body()),
    )
    replay = await _claim(session, claim)
    if replay is not None:
        return replay
    status, body = await handler()
    await _remember(session, claim, status, body)
    return Response(body, status_code=status)
