"""``POST /v1/connector``: the consent service's side of the DSAR connector protocol.

No bearer token: the job is authenticated by its Standard Webhooks signature, made with the
secret the DSAR service holds for this connector (``LUPA_CONSENT_CONNECTOR_SECRET``).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.api.request_context import ledger_context
from services.consent.api.subjects import Phone, Short, SubjectWrite
from services.consent.service.connector import (
    ConnectorAnswer,
    ConnectorJob,
    ConnectorService,
    Identity,
)
from shared.errors import InvalidInput, Unauthorized, Unavailable
from shared.keys import Keyring
from shared.standard_webhooks import BadSignature, verify

CONNECTOR_SECRET_KEY = "consent_connector_secret"  # noqa: S105 (a state key, not a secret)
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class IdentityBody(msgspec.Struct):
    external_id: Short | None = None
    email: Short | None = None
    phone: Phone | None = None


class Changes(msgspec.Struct, forbid_unknown_fields=True):
    """What a rectification may change; validated as ``PUT /v1/subjects`` validates it."""

    email: Short | msgspec.UnsetType | None = msgspec.UNSET
    phone: Phone | msgspec.UnsetType | None = msgspec.UNSET
    name: Short | msgspec.UnsetType | None = msgspec.UNSET


class JobBody(msgspec.Struct):
    """A connector job as the DSAR service sends it (unknown keys are ignored: the protocol
    may grow)."""

    job: Id
    request: Id
    action: str
    identity: IdentityBody
    callback_url: str | None = None
    changes: Changes | None = None

    def to_job(self) -> ConnectorJob:
        changes = None
        if self.changes is not None:
            write = SubjectWrite(
                email=self.changes.email, phone=self.changes.phone, name=self.changes.name
            )
            changes = write.to_changes()
        identity = Identity(self.identity.external_id, self.identity.email, self.identity.phone)
        return ConnectorJob(self.job, self.request, self.action, identity, changes)


def read_job(request: Request[Any, Any, Any], secret: str | None, body: bytes) -> JobBody:
    """The job in ``body`` once its signature holds; 503 without a secret, 401 without a
    valid, fresh signature (nothing is read before that)."""
    if not secret:
        raise Unavailable("The connector is not configured.")
    try:
        message_id = verify(secret, request.headers, body)
    except BadSignature as error:
        raise Unauthorized("The job's signature does not verify.") from error
    try:
        job = msgspec.json.decode(body, type=JobBody)
    except msgspec.ValidationError as error:
        raise InvalidInput(f"The job is not valid: {error}") from error
    except msgspec.DecodeError as error:
        raise InvalidInput("The job is not JSON.") from error
    if job.job != message_id:
        raise InvalidInput("The job id must be the webhook-id it was signed with.", field="job")
    return job


class ConnectorController(Controller):
    path = "/v1/connector"
    tags = ["connector"]

    @post(
        status_code=200,
        opt={"public": True, "problems": (401, 409, 422, 503)},
        summary="Run a DSAR connector job (Standard Webhooks signed) and answer synchronously",
    )
    async def run_job(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
    ) -> ConnectorAnswer:
        secret: str | None = request.app.state.get(CONNECTOR_SECRET_KEY)
        job = read_job(request, secret, await request.body())
        return await ConnectorService(tx, keyring, ledger_context(request)).run(job.to_job())
