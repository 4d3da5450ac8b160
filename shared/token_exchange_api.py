"""``POST /v1/token``: the RFC 8693 token exchange every service answers (a kernel route, like
the audit feed), since both verify tokens with the same keyring.

The portal backend sends its unbound portal token as ``subject_token`` (form-encoded, as
RFC 8693 §2.1 asks) with the external id it acts for as ``subject`` (a Lupa parameter, RFC 6749
§8.2), and gets back a portal token bound to that subject for at most 15 minutes (§2.2).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.handlers import BaseRouteHandler
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, RequestBody, Schema
from sqlalchemy.ext.asyncio import AsyncSession

from shared.audit.outbox import AuditEvent, record_event
from shared.auth.exchange import (
    ACCESS_TOKEN_TYPE,
    GRANT_TYPE,
    SUBJECT_TOKEN_TYPES,
    exchanging_principal,
    mint,
    read_request,
)
from shared.auth.guards import VERIFIER_STATE_KEY
from shared.auth.tokens import AccessTokenVerifier

# The service's way to name a subject in its audit trail: the pseudonymous id of the subject
# with this external id, or None when it holds none (the DSAR service keeps no subject table;
# the consent service registers one). Unknown subjects are exchanged all the same: the backend
# may create the subject next with PUT, using the token it gets here.
SubjectReference = Callable[[AsyncSession, str], Awaitable[str | None]]
SUBJECT_REFERENCE_KEY = "subject_reference"
_STRING = Schema(type=OpenAPIType.STRING)
_FORM = OpenAPIMediaType(
    schema=Schema(
        type=OpenAPIType.OBJECT,
        required=["grant_type", "subject_token", "subject_token_type", "subject"],
        properties={
            "grant_type": Schema(type=OpenAPIType.STRING, enum=[GRANT_TYPE]),
            "subject_token": Schema(
                type=OpenAPIType.STRING, description="The portal token without a subject"
            ),
            "subject_token_type": Schema(type=OpenAPIType.STRING, enum=sorted(SUBJECT_TOKEN_TYPES)),
            "subject": Schema(
                type=OpenAPIType.STRING,
                description="The external id the new token is bound to (a Lupa parameter)",
                min_length=1,
                max_length=128,
            ),
            "requested_token_type": Schema(type=OpenAPIType.STRING, enum=[ACCESS_TOKEN_TYPE]),
        },
    )
)
EXCHANGE_BODY = RequestBody(
    required=True,
    description="An RFC 8693 token exchange request, form-encoded",
    content={"application/x-www-form-urlencoded": _FORM},
)


class ExchangedTokenResponse(msgspec.Struct):
    """RFC 8693 §2.2.1."""

    access_token: str
    issued_token_type: str
    token_type: str
    expires_in: int


async def _credential_in_body(_: ASGIConnection[Any, Any, Any, Any], __: BaseRouteHandler) -> None:
    """The exchange's role, declared for the route table: only an unbound portal token may
    exchange. The token travels as ``subject_token`` in the body (RFC 8693), not in an
    Authorization header, so the handler checks it (``exchanging_principal``)."""


_credential_in_body.roles = ("portal",)  # type: ignore[attr-defined]


@post(
    "/v1/token",
    guards=[_credential_in_body],
    # No bearer header: the credential is the body's subject_token.
    opt={"public": True, "request_body": EXCHANGE_BODY, "problems": (400, 401, 403)},
    status_code=200,
    request_max_body_size=16384,
    tags=["tokens"],
    summary="Exchange the portal backend's token for a short-lived subject-bound one (RFC 8693)",
)
async def exchange_token(
    request: Request[Any, Any, Any], state: State, tx: NamedDependency[AsyncSession]
) -> Response[ExchangedTokenResponse]:
    form = await request.form()
    wanted = read_request({name: form.getall(name) for name in form})
    verifier: AccessTokenVerifier = state[VERIFIER_STATE_KEY]
    backend, expires_at = exchanging_principal(verifier, wanted.subject_token)
    minted = mint(verifier.keyring, wanted.subject, expires_at)
    reference: SubjectReference | None = state.get(SUBJECT_REFERENCE_KEY)
    subject = await reference(tx, wanted.subject) if reference else None
    service: str = state["settings"].service
    await record_event(
        tx,
        AuditEvent(
            service=service,
            type="token.exchanged",
            subject=subject,
            data={
                "actor": backend.actor,
                "token_id": minted.token_id,
                "expires_in": minted.expires_in,
                "subject_known": subject is not None,
            },
        ),
    )
    body = ExchangedTokenResponse(
        minted.access_token, ACCESS_TOKEN_TYPE, "Bearer", minted.expires_in
    )
    # RFC 6749 §5.1: a response carrying a token is never cached.
    return Response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
