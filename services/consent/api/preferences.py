"""``/v1/subjects/{external_id}/preferences``: channels, frequency, topics, quiet hours, pause.

GET returns the document with a strong ``ETag``; PATCH takes a JSON merge-patch and needs
``If-Match`` (428 without, 412 when stale), so two editors never overwrite each other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, patch
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.api.deps import caller, keyring_of
from services.consent.api.request_context import honour_gpc, write_transaction
from services.consent.api.subjects import ExternalId
from services.consent.domain.vocabulary import (
    END,
    PURPOSE_KEY_PATTERN,
    TOPIC_SLUG_PATTERN,
    Locale,
)
from services.consent.service.preferences import PreferenceService, PreferencesView
from shared.auth.guards import requires

Frequency = Literal["immediately", "daily", "weekly", "monthly"]
PurposeKey = Annotated[str, msgspec.Meta(pattern=PURPOSE_KEY_PATTERN)]
TopicSlug = Annotated[str, msgspec.Meta(pattern=TOPIC_SLUG_PATTERN)]
Clock = Annotated[
    str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]" + END, examples=["21:00"])
]
Zone = Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["Europe/Helsinki"])]
Instant = Annotated[datetime, msgspec.Meta(tz=True)]
UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class ChannelPreference(msgspec.Struct):
    enabled: bool
    frequency: Frequency


class QuietHours(msgspec.Struct):
    start: str
    end: str
    timezone: str


class Channels(msgspec.Struct):
    email: ChannelPreference
    sms: ChannelPreference
    phone: ChannelPreference
    post: ChannelPreference
    push: ChannelPreference


class Preferences(msgspec.Struct):
    """The whole document: what GET returns and what a PATCH answers with."""

    channels: Channels
    topics: dict[str, list[str]]
    language: str | None
    quiet_hours: QuietHours | None
    paused_until: datetime | None
    marketing_opt_out: bool


class ChannelPatch(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool | Unset = UNSET
    frequency: Frequency | Unset = UNSET


class ChannelsPatch(msgspec.Struct, forbid_unknown_fields=True):
    email: ChannelPatch | Unset = UNSET
    sms: ChannelPatch | Unset = UNSET
    phone: ChannelPatch | Unset = UNSET
    post: ChannelPatch | Unset = UNSET
    push: ChannelPatch | Unset = UNSET


class QuietHoursPatch(msgspec.Struct, forbid_unknown_fields=True):
    start: Clock | Unset = UNSET
    end: Clock | Unset = UNSET
    timezone: Zone | Unset = UNSET


class PreferencesPatch(msgspec.Struct, forbid_unknown_fields=True):
    """JSON merge-patch: omitted fields stay; ``null`` clears the fields that may be empty."""

    channels: ChannelsPatch | Unset = UNSET
    topics: dict[PurposeKey, list[TopicSlug] | None] | Unset | None = UNSET
    language: Locale | Unset | None = UNSET
    quiet_hours: QuietHoursPatch | Unset | None = UNSET
    paused_until: Instant | Unset | None = UNSET
    marketing_opt_out: bool | Unset = UNSET


def _respond(view: PreferencesView) -> Response[Preferences]:
    body = msgspec.convert(view.doc, Preferences)
    return Response(body, headers={"ETag": view.etag, "Cache-Control": "no-store"})


class PreferenceController(Controller):
    path = "/v1/subjects/{external_id:str}/preferences"
    tags = ["preferences"]

    @get(
        guards=[requires("admin", "portal", "officer", "cx", subject_param="external_id")],
        opt={"problems": (404,), "etag": True},
        summary="A subject's contact preferences, with an ETag for the next change",
    )
    async def get_preferences(
        self, tx: NamedDependency[AsyncSession], external_id: ExternalId
    ) -> Response[Preferences]:
        return _respond(await PreferenceService(tx).get(external_id))

    @patch(
        guards=[requires("admin", "portal", subject_param="external_id")],
        opt={
            "problems": (404,),
            "etag": True,
            "request_media_types": ("application/merge-patch+json",),
        },
        summary="Change preferences (JSON merge-patch); needs If-Match with the ETag",
    )
    async def patch_preferences(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[PreferencesPatch],
        external_id: ExternalId,
        if_match: Annotated[
            str | None, HeaderParameter(name="If-Match", required=False, max_length=256)
        ] = None,
    ) -> Response[Preferences]:
        # A preference centre's hot write: its own transaction on the write pool, like a
        # consent write (request_context.py), committed before the answer is built.
        principal, keyring = caller(request), keyring_of(request)  # see api/deps.py: why
        async with write_transaction(request, principal) as tx:
            view = await PreferenceService(tx).patch(
                external_id, msgspec.to_builtins(data), if_match, principal
            )
            await honour_gpc(tx, keyring, request, principal, external_id)
        return _respond(view)


__all__ = ["PreferenceController", "Preferences", "PreferencesPatch"]
