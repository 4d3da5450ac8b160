"""``/v1/purposes``: the purpose catalogue (admin writes; every role may read)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Response, get, put
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.api.text import OneLine, Paragraphs
from services.consent.domain.purposes import Purpose, PurposeSpec, PurposeVersion
from services.consent.domain.vocabulary import (
    DEFAULT_PII_CATEGORIES,
    DEFAULT_PURPOSE_CATEGORY,
    END,
    PURPOSE_KEY_SHAPE,
    Channel,
    LegalBasis,
    PiiCategory,
    PurposeCategory,
)
from services.consent.service.purposes import PurposeService
from shared.auth.guards import requires
from shared.auth.tokens import Principal

PURPOSE_KEY = Parameter(
    pattern=f"^{PURPOSE_KEY_SHAPE}" + END, description="Lower-case key, e.g. newsletter"
)
TEXT_LENGTH = msgspec.Meta(min_length=1, max_length=4000)
Title = Annotated[OneLine, TEXT_LENGTH]
Description = Annotated[Paragraphs, TEXT_LENGTH]
Recipient = Annotated[OneLine, msgspec.Meta(min_length=1, max_length=200)]


class Localised(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in msgspec.structs.asdict(self).items() if v is not None}


class LocalisedTitle(Localised):
    fi: Title | None = None
    sv: Title | None = None
    en: Title | None = None


class LocalisedText(Localised):
    fi: Description | None = None
    sv: Description | None = None
    en: Description | None = None


class PurposeWrite(msgspec.Struct, forbid_unknown_fields=True):
    legal_basis: LegalBasis
    title: LocalisedTitle
    channels: Annotated[list[Channel], msgspec.Meta(min_length=1, max_length=5)]
    description: LocalisedText = msgspec.field(default_factory=LocalisedText)
    double_opt_in_channels: list[Channel] = msgspec.field(default_factory=list)
    validity_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None
    min_age: Annotated[int, msgspec.Meta(ge=0, le=21)] | None = None
    sale_or_sharing: bool = False
    require_renewal: bool = False
    # Kantara CR v1.1 vocabularies, printed on the purpose's receipts.
    purpose_category: PurposeCategory | None = None
    pii_categories: (
        Annotated[list[PiiCategory], msgspec.Meta(min_length=1, max_length=9)] | None
    ) = None
    # Art. 15(1)(c),(d): recipients (names or categories) and how long the data is kept.
    recipients: Annotated[list[Recipient], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )
    retention_days: Annotated[int, msgspec.Meta(ge=1, le=36500)] | None = None

    def to_spec(self) -> PurposeSpec:
        return PurposeSpec(
            legal_basis=self.legal_basis,
            title=self.title.as_dict(),
            description=self.description.as_dict(),
            channels=tuple(self.channels),
            double_opt_in_channels=tuple(self.double_opt_in_channels),
            validity_days=self.validity_days,
            min_age=self.min_age,
            sale_or_sharing=self.sale_or_sharing,
            require_renewal=self.require_renewal,
            purpose_category=self.purpose_category or DEFAULT_PURPOSE_CATEGORY,
            pii_categories=(
                tuple(self.pii_categories) if self.pii_categories else DEFAULT_PII_CATEGORIES
            ),
            recipients=tuple(self.recipients),
            retention_days=self.retention_days,
        )


class PurposeController(Controller):
    path = "/v1/purposes"
    tags = ["purposes"]

    @put(
        "/{key:str}",
        guards=[requires("admin")],
        status_code=200,
        responses={201: ResponseSpec(Purpose, description="Created")},
        summary="Create or update a purpose; a changed text makes a new version",
    )
    async def put_purpose(
        self,
        tx: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        data: JSONBody[PurposeWrite],
        key: Annotated[str, PURPOSE_KEY],
    ) -> Response[Purpose]:
        saved = await PurposeService(tx).put(key, data.to_spec(), principal.actor)
        return Response(saved.purpose, status_code=201 if saved.created else 200)

    @get(
        guards=[requires("admin", "portal", "marketing", "officer", "cx")],
        summary="List purposes with their current version",
    )
    async def list_purposes(self, tx: NamedDependency[AsyncSession]) -> list[Purpose]:
        return await PurposeService(tx).list_all()

    @get(
        "/{key:str}",
        guards=[requires("admin", "portal", "marketing", "officer", "cx")],
        opt={"problems": (404,)},
        summary="One purpose",
    )
    async def get_purpose(
        self, tx: NamedDependency[AsyncSession], key: Annotated[str, PURPOSE_KEY]
    ) -> Purpose:
        return await PurposeService(tx).get(key)

    @get(
        "/{key:str}/versions",
        guards=[requires("admin", "portal", "marketing", "officer", "cx")],
        opt={"problems": (404,)},
        summary="Every version of a purpose's text",
    )
    async def list_versions(
        self, tx: NamedDependency[AsyncSession], key: Annotated[str, PURPOSE_KEY]
    ) -> list[PurposeVersion]:
        return await PurposeService(tx).versions(key)


__all__ = ["PurposeController", "PurposeWrite"]
