"""``/v1/subjects``: a subject's identity and contact data (encrypted at rest)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.api.request_context import honour_gpc
from services.consent.api.text import OneLine
from services.consent.domain.subjects import (
    EXTERNAL_ID_PATTERN,
    SubjectChanges,
    clean_birth_date,
    clean_email,
    clean_name,
    clean_phone,
)
from services.consent.domain.vocabulary import Locale
from services.consent.service.subjects import Subject, SubjectService
from shared.auth.guards import requires
from shared.auth.tokens import Principal
from shared.keys import Keyring

EXTERNAL_ID = Parameter(pattern=EXTERNAL_ID_PATTERN, description="The company's own customer id")
ExternalId = Annotated[str, EXTERNAL_ID]
Short = Annotated[OneLine, msgspec.Meta(max_length=320)]
Phone = Annotated[OneLine, msgspec.Meta(max_length=32)]


class SubjectWrite(msgspec.Struct, forbid_unknown_fields=True):
    """Omitted fields stay as they are; ``null`` clears a field."""

    email: Short | msgspec.UnsetType | None = msgspec.UNSET
    phone: Phone | msgspec.UnsetType | None = msgspec.UNSET
    name: Short | msgspec.UnsetType | None = msgspec.UNSET
    birth_date: date | msgspec.UnsetType | None = msgspec.UNSET
    locale: Locale | msgspec.UnsetType = msgspec.UNSET

    def to_changes(self) -> SubjectChanges:
        fields: dict[str, str | date | None] = {}
        if self.email is not msgspec.UNSET:
            fields["email"] = None if self.email is None else clean_email(self.email)
        if self.phone is not msgspec.UNSET:
            fields["phone"] = None if self.phone is None else clean_phone(self.phone)
        if self.name is not msgspec.UNSET:
            fields["name"] = None if self.name is None else clean_name(self.name)
        if self.birth_date is not msgspec.UNSET:
            today = datetime.now(UTC).date()
            fields["birth_date"] = (
                None if self.birth_date is None else clean_birth_date(self.birth_date, today)
            )
        locale = None if self.locale is msgspec.UNSET else self.locale
        return SubjectChanges(fields=fields, locale=locale)


class EmailLookup(msgspec.Struct, forbid_unknown_fields=True):
    email: Short


class SubjectController(Controller):
    path = "/v1/subjects"
    tags = ["subjects"]

    @put(
        "/{external_id:str}",
        guards=[requires("admin", "portal", subject_param="external_id")],
        status_code=200,
        responses={201: ResponseSpec(Subject, description="Created")},
        opt={"problems": (404, 409)},  # an erased subject; its data key erased
        summary="Create or update a subject (201 when created)",
    )
    async def put_subject(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        principal: NamedDependency[Principal],
        request: Request[Any, Any, Any],
        data: JSONBody[SubjectWrite],
        external_id: ExternalId,
    ) -> Response[Subject]:
        subject, created = await SubjectService(tx, keyring).put(
            external_id, data.to_changes(), principal.actor
        )
        await honour_gpc(tx, keyring, request, principal, external_id)
        return Response(subject, status_code=201 if created else 200)

    @get(
        "/{external_id:str}",
        guards=[requires("admin", "portal", "officer", subject_param="external_id")],
        opt={"problems": (404,)},
        summary="A subject with its contact data",
    )
    async def get_subject(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        external_id: ExternalId,
    ) -> Subject:
        return await SubjectService(tx, keyring).get(external_id)

    @post(
        "/lookup",
        guards=[requires("admin", "officer")],
        status_code=200,
        summary="Find subjects by email through the blind index (the address never hits logs)",
    )
    async def lookup(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        data: JSONBody[EmailLookup],
    ) -> list[Subject]:
        return await SubjectService(tx, keyring).find_by_email(data.email)
