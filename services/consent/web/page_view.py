"""What the preference centre shows one subject: the purposes they may consent to with each
channel's state, their preference document, and their history with its receipts. Reads only."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import feedback as feedback_repo
from services.consent.domain.purposes import Purpose
from services.consent.service.consents import ConsentService
from services.consent.service.preferences import PreferenceService
from services.consent.service.purposes import PurposeService
from services.consent.service.receipts import LedgerContext, localised
from services.consent.service.subjects import live_subject
from shared.keys import Keyring

FREQUENCIES = ("immediately", "daily", "weekly", "monthly")
ON_STATES = ("granted", "pending")  # a pending grant waits for its double opt-in: it is "on"
DEFAULT_ZONE = "Europe/Helsinki"
DSAR_DEFAULT = "http://127.0.0.1:8001"


def dsar_base_url() -> str:
    return os.environ.get("LUPA_DSAR_PUBLIC_URL", DSAR_DEFAULT).rstrip("/")


@dataclass(frozen=True)
class ChannelChoice:
    channel: str
    on: bool
    pending: bool


@dataclass(frozen=True)
class PurposeChoice:
    key: str
    title: str
    description: str
    channels: list[ChannelChoice]


@dataclass(frozen=True)
class HistoryLine:
    occurred_at: datetime
    purpose_title: str
    channel: str
    action: str
    receipt_id: str | None


@dataclass(frozen=True)
class PageView:
    purposes: list[PurposeChoice]
    preferences: dict[str, Any]
    version: int
    history: list[HistoryLine]
    controller: str
    topics: list[tuple[str, str, str]] = field(default_factory=list)  # (purpose, title, slug)

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


def consentable(purposes: list[Purpose]) -> list[Purpose]:
    """The purposes a person gives or refuses consent to (others rest on another basis)."""
    return [p for p in purposes if p.legal_basis == "consent"]


async def current_states(
    session: AsyncSession, keyring: Keyring, context: LedgerContext, external_id: str
) -> dict[tuple[str, str], str]:
    states = await ConsentService(session, keyring, context).states(external_id)
    return {(s.purpose, s.channel): s.state for s in states}


async def build_view(
    session: AsyncSession,
    keyring: Keyring,
    context: LedgerContext,
    external_id: str,
    lang: str,
) -> PageView:
    subject = await live_subject(session, external_id)
    purposes = await PurposeService(session).list_all()
    titles = {p.key: localised(p.title, lang) for p in purposes}
    states = await current_states(session, keyring, context, external_id)
    choices = [
        PurposeChoice(
            key=p.key,
            title=titles[p.key],
            description=localised(p.description, lang),
            channels=[
                ChannelChoice(
                    ch,
                    states.get((p.key, ch)) in ON_STATES,
                    states.get((p.key, ch)) == "pending",
                )
                for ch in p.channels
            ],
        )
        for p in consentable(purposes)
    ]
    prefs = await PreferenceService(session).get(external_id)
    history = await ConsentService(session, keyring, context).history(
        external_id, reveal_reason=False
    )
    receipts = await feedback_repo.receipt_ids(session, subject.id)
    lines = [
        HistoryLine(
            entry.occurred_at,
            titles.get(entry.purpose_key, entry.purpose_key),
            entry.channel,
            entry.action,
            str(receipts[entry.event_id]) if entry.event_id in receipts else None,
        )
        for entry in reversed(history)
    ]
    topics = [
        (purpose, titles.get(purpose, purpose), slug)
        for purpose, slugs in sorted(prefs.doc["topics"].items())
        for slug in slugs
    ]
    return PageView(choices, prefs.doc, prefs.version, lines, context.controller.name, topics)
