"""``/v1/subjects/{external_id}/consents``: grant, withdraw, current state and history."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import URL, Headers, State
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, QueryParameter
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.api.deps import caller, keyring_of
from services.consent.api.request_context import (
    LEDGER_CONTEXT_KEY,
    evidence_of,
    honour_gpc,
    ledger_context,
    write_transaction,
)
from services.consent.api.subjects import ExternalId
from services.consent.api.text import Paragraphs
from services.consent.domain.assertions import check_assertions, page_without_query
from services.consent.domain.consents import ConsentRequest, default_collection_method
from services.consent.domain.subjects import EXTERNAL_ID_PATTERN
from services.consent.domain.vocabulary import (
    END,
    PURPOSE_KEY_SHAPE,
    Channel,
    CollectionMethod,
    Source,
)
from services.consent.service.consents import (
    ConsentRecorded,
    ConsentRecorder,
    ConsentService,
    ConsentState,
    HistoryEntry,
)
from services.consent.service.evidence import Evidence
from services.consent.service.gpc import gpc_requested
from services.consent.service.optimistic import OptimisticWrites
from shared.app_base import KEYRING_KEY, WRITE_TRANSACTIONS_KEY
from shared.auth.guards import authorize, requires
from shared.auth.tokens import Principal
from shared.errors import LupaError
from shared.fast_path import member_names, plain_json, read_json_body, replay, send_json
from shared.idempotency import HEADER as IDEMPOTENCY_HEADER
from shared.idempotency import claim_for, idempotent, parse_key
from shared.idempotency_store import Claim
from shared.keys import Keyring

PurposeKey = Annotated[str, msgspec.Meta(pattern=f"^{PURPOSE_KEY_SHAPE}" + END)]
PageId = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+" + END)]
Reason = Annotated[Paragraphs, msgspec.Meta(min_length=1, max_length=500)]
REVEAL_REASON_ROLES = ("admin", "portal", "officer")


class ConsentWrite(msgspec.Struct, forbid_unknown_fields=True):
    purpose: PurposeKey
    channel: Channel
    action: Literal["grant", "withdraw"]
    source: Source | None = None
    reason: Reason | None = None
    collection_method: CollectionMethod | None = None
    page: PageId | None = None
    given_by: Literal["subject", "guardian"] = "subject"

    def to_request(self, principal: Principal) -> ConsentRequest:
        source = self.source or ("portal" if principal.role == "portal" else "api")
        method = self.collection_method or default_collection_method(source)
        check_assertions(principal.role, source, method, self.given_by)
        return ConsentRequest(
            purpose=self.purpose,
            channel=self.channel,
            action=self.action,
            source=source,
            collection_method=method,
            given_by=self.given_by,
            page=page_without_query(self.page),
            reason=self.reason,
        )


WRITE_ROLES = ("admin", "portal")
# Larger bodies go to the handler: a consent write with every member at its longest, spelt
# without escapes, is ~1.2 KB.
FAST_BODY_LIMIT = 4096
_decode_write = msgspec.json.Decoder(ConsentWrite).decode
_WRITE_MEMBERS = member_names(ConsentWrite.__struct_fields__)
_WRITE_HEADERS = ((b"content-type", b"application/json"),)
_EXTERNAL_ID = re.compile(EXTERNAL_ID_PATTERN)
_encode = msgspec.json.Encoder().encode


OPTIMISTIC_WRITES_KEY = "optimistic_writes"


async def record_optimistically(
    state: State,
    external_id: str,
    write: ConsentRequest,
    evidence: Evidence,
    principal: Principal,
    claim: Claim | None,
) -> ConsentRecorded | None:
    """The write, optimistically in the process's next batch (``service.optimistic`` says how),
    its response stored under ``claim``'s key; None, with nothing written, if the subject or
    its state changed meanwhile, or the key is held already: then record under the lock."""
    transactions = state[WRITE_TRANSACTIONS_KEY]
    writes: OptimisticWrites | None = state.get(OPTIMISTIC_WRITES_KEY)
    if writes is None or writes.transactions is not transactions:
        # Made on first use, on the write pool of this run of the app's lifespan.
        writes = OptimisticWrites(transactions, state[KEYRING_KEY], state[LEDGER_CONTEXT_KEY])
        state[OPTIMISTIC_WRITES_KEY] = writes
    return await writes.record(external_id, write, evidence, principal.actor, claim)


# Set in the scope's state by the fast path once it has tried the write optimistically and
# not answered it (its read went stale, or the write was refused): the handler then records
# under the lock, and answers a refusal from there, rather than trying again.
_TRIED_OPTIMISTICALLY = "lupa.consent_write_tried"


def _optimistic(scope: Scope, headers: Mapping[str, str], principal: Principal) -> bool:
    """Whether the write can be optimistic: not when it honours Sec-GPC (objections follow
    the write), nor once the fast path has tried it optimistically (``_TRIED_OPTIMISTICALLY``)."""
    return not (
        gpc_requested(headers, principal.role)
        or scope.get("state", {}).get(_TRIED_OPTIMISTICALLY, False)
    )


def _claim(
    scope: Scope, headers: Mapping[str, str], principal: Principal, body: bytes
) -> Claim | None:
    """The write's Idempotency-Key claim, as ``idempotent`` makes it (same hash of method,
    path and body), or None without the header. A malformed key raises the ``InvalidInput``
    that ``idempotent`` would: in the fast path the handler then answers it."""
    key = parse_key(headers.get(IDEMPOTENCY_HEADER))
    if key is None:
        return None
    return claim_for(principal, key, "POST", URL.from_scope(scope).path, body)  # its one method


def _accepted_write(scope: Scope, body: bytes) -> tuple[Principal, str, ConsentRequest] | None:
    """Who writes what for whom, if the handler would accept it as it stands; else None."""
    if not plain_json(body, _WRITE_MEMBERS):
        return None
    try:
        principal = authorize(scope, WRITE_ROLES)
        external_id = scope["path_params"]["external_id"]
        bound = principal.role == "portal" and principal.subject is not None
        if bound and external_id != principal.subject:
            return None
        if not _EXTERNAL_ID.match(external_id):  # the handler's path parameter rule
            return None
        return principal, external_id, _decode_write(body).to_request(principal)
    except (LupaError, msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
        return None


class ConsentWriteFastPath:
    """Route middleware of ``POST /v1/subjects/{external_id}/consents``: records a valid,
    authorized, plain write itself, optimistically (``service.optimistic``).

    It skips, per write, the guard's connection copy, Litestar's body reading (strict JSON with
    the standard library, then a conversion), the kwargs and the response object. It takes a
    strict subset of what the handler takes: a plain JSON body (``shared.fast_path``) decoded
    straight into ``ConsentWrite`` by msgspec, strictly, with no ``Sec-GPC`` to honour and any
    ``Idempotency-Key`` well formed (its claim goes in the batch). Everything else, every error,
    a key held already and a write whose subject changed under it, goes on to the handler with
    the body replayed, so no answer can differ.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, messages = await read_json_body(scope, receive, FAST_BODY_LIMIT)
        accepted = None if body is None else _accepted_write(scope, body)
        recorded = None
        if accepted is not None and body is not None:
            principal, external_id, write = accepted
            headers = Headers.from_scope(scope)
            if _optimistic(scope, headers, principal):
                try:
                    recorded = await record_optimistically(
                        scope["litestar_app"].state,
                        external_id,
                        write,
                        Evidence(_client_host(scope), headers.get("user-agent")),
                        principal,
                        _claim(scope, headers, principal, body),
                    )
                except LupaError:
                    recorded = None  # the handler answers it, with its own problem
                scope.setdefault("state", {})[_TRIED_OPTIMISTICALLY] = True
        if recorded is None:
            await self.app(scope, replay(messages, receive), send)
            return
        await send_json(send, 201, _encode(recorded), _WRITE_HEADERS)


def _client_host(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


class ConsentController(Controller):
    path = "/v1/subjects/{external_id:str}/consents"
    tags = ["consents"]

    @post(
        guards=[requires(*WRITE_ROLES, subject_param="external_id")],
        middleware=[ConsentWriteFastPath],
        status_code=201,
        responses={201: ResponseSpec(ConsentRecorded, description="Recorded, with its receipt")},
        opt={"idempotent": True, "problems": (404,)},  # 404: unknown or erased subject
        summary="Grant or withdraw consent for one purpose and channel (Idempotency-Key honoured)",
    )
    async def record_consent(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ConsentWrite],
        external_id: ExternalId,
    ) -> Response[Any]:
        # No Litestar dependency at all: the transaction is opened here (request_context.py
        # says which kind), principal and keyring read directly (see api/deps.py: why).
        principal, keyring = caller(request), keyring_of(request)
        if _optimistic(request.scope, request.headers, principal):
            recorded = await record_optimistically(
                request.app.state,
                external_id,
                data.to_request(principal),
                evidence_of(request),
                principal,
                _claim(request.scope, request.headers, principal, await request.body()),
            )
            if recorded is not None:
                return Response(msgspec.to_builtins(recorded), status_code=201)
        async with write_transaction(request, principal) as tx:

            async def run() -> tuple[int, Any]:
                result = await ConsentRecorder(tx, keyring, ledger_context(request)).record(
                    external_id, data.to_request(principal), evidence_of(request), principal.actor
                )
                await honour_gpc(tx, keyring, request, principal, external_id)
                return 201, msgspec.to_builtins(result)

            return await idempotent(tx, request, principal, run)

    @get(
        guards=[requires("admin", "portal", "officer", "cx", subject_param="external_id")],
        opt={"problems": (404,)},
        summary="Current consent per purpose and channel, with expiry computed now",
    )
    async def list_consents(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
        external_id: ExternalId,
    ) -> list[ConsentState]:
        return await ConsentService(tx, keyring, ledger_context(request)).states(external_id)

    @get(
        "/history",
        guards=[requires("admin", "portal", "officer", "cx", subject_param="external_id")],
        opt={"problems": (404,)},
        summary="Every ledger event of the subject, oldest first",
    )
    async def consent_history(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        principal: NamedDependency[Principal],
        request: Request[Any, Any, Any],
        external_id: ExternalId,
        after: Annotated[
            int, QueryParameter(ge=0, le=2**62, description="sequence to start after")
        ] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 500,
    ) -> list[HistoryEntry]:
        return await ConsentService(tx, keyring, ledger_context(request)).history(
            external_id,
            reveal_reason=principal.role in REVEAL_REASON_ROLES,
            after=after,
            limit=limit,
        )
