"""``/v1/subjects/{external_id}/consents``: grant, withdraw, current state and history."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.api.deps import caller, keyring_of
from services.consent.api.request_context import (
    evidence_of,
    honour_gpc,
    ledger_context,
    write_transaction,
)
from services.consent.api.subjects import ExternalId
from services.consent.api.text import Paragraphs
from services.consent.domain.assertions import check_assertions, page_without_query
from services.consent.domain.consents import ConsentRequest, default_collection_method
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
from shared.auth.guards import requires
from shared.auth.tokens import Principal
from shared.idempotency import idempotent
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


class ConsentController(Controller):
    path = "/v1/subjects/{external_id:str}/consents"
    tags = ["consents"]

    @post(
        guards=[requires("admin", "portal", subject_param="external_id")],
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
