"""``/v1/audience`` and ``/v1/suppression``: bulk exports for senders, streamed with flat memory."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import FromQuery, QueryParameter
from litestar.response import Stream

from services.consent.api.check import CHECK_ROLES, PurposeParam, TopicParam
from services.consent.domain.vocabulary import PURPOSE_KEY_PATTERN, Channel
from services.consent.service.exports import (
    CSV,
    NDJSON,
    Export,
    ExportService,
    ExportSettings,
    choose_format,
)
from shared.auth.guards import requires

OptionalPurpose = Annotated[
    str | None,
    QueryParameter(pattern=PURPOSE_KEY_PATTERN, description="limit to one purpose"),
]


EXPORT_SETTINGS_KEY = "export_settings"
EXPORT_MEDIA_TYPES = (NDJSON, CSV.partition(";")[0])


def exports(request: Request[Any, Any, Any]) -> ExportService:
    settings: ExportSettings = request.app.state[EXPORT_SETTINGS_KEY]
    return ExportService(settings, request.app.state["keyring"])


def streamed(export: Export) -> Stream:
    # Without its parameters: Litestar adds "; charset=utf-8" to a text/* type itself (passing
    # CSV whole sent "text/csv; charset=utf-8; charset=utf-8").
    media_type = export.media_type.partition(";")[0]
    return Stream(export.body, media_type=media_type, headers={"Cache-Control": "no-store"})


class AudienceController(Controller):
    tags = ["check"]

    @get(
        "/v1/audience",
        guards=[requires(*CHECK_ROLES)],
        opt={"media_types": EXPORT_MEDIA_TYPES},
        summary="Every subject that may be contacted now (NDJSON, or CSV by Accept)",
    )
    async def audience(
        self,
        request: Request[Any, Any, Any],
        purpose: PurposeParam,
        channel: FromQuery[Channel],
        topic: TopicParam = None,
    ) -> Stream:
        export = await exports(request).audience(
            purpose, channel, topic, choose_format(request.headers.get("accept"))
        )
        return streamed(export)

    @get(
        "/v1/suppression",
        guards=[requires(*CHECK_ROLES)],
        opt={"media_types": EXPORT_MEDIA_TYPES},
        summary="HMAC-SHA256 hashes of every address that must not be contacted on a channel",
    )
    async def suppression(
        self,
        request: Request[Any, Any, Any],
        channel: FromQuery[Channel],
        purpose: OptionalPurpose = None,
    ) -> Stream:
        export = await exports(request).suppression(
            channel, purpose, choose_format(request.headers.get("accept"))
        )
        return streamed(export)
