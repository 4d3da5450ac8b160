"""The preference centre's three forms turned into the same service calls the API makes:
consent grants and withdrawals through ``ConsentService.record`` (source
``preference_centre``), everything else as a merge-patch through ``PreferenceService.patch``,
and the optional "tell us why" through ``give_feedback``. Every check runs before any write."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.domain.consents import ConsentRequest
from services.consent.service.consents import ConsentService
from services.consent.service.evidence import Evidence
from services.consent.service.feedback import Feedback, give_feedback, parse_feedback
from services.consent.service.preferences import PreferenceService
from services.consent.service.purposes import PurposeService
from services.consent.service.receipts import LedgerContext
from services.consent.service.subjects import live_subject
from services.consent.web.page_view import DEFAULT_ZONE, FREQUENCIES, ON_STATES, current_states
from shared.auth.tokens import Principal
from shared.errors import InvalidInput
from shared.keys import Keyring

SOURCE = "preference_centre"
PAGE = "/preferences"
CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


@dataclass(frozen=True)
class Form:
    """A submitted form: single values and the lists of repeated fields (checkboxes)."""

    values: dict[str, str]
    lists: dict[str, list[str]]

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def all(self, name: str) -> list[str]:
        return self.lists.get(name, [])


class PageChanges:
    def __init__(
        self,
        session: AsyncSession,
        keyring: Keyring,
        context: LedgerContext,
        principal: Principal,
        evidence: Evidence,
    ) -> None:
        assert principal.subject is not None  # the page guard admits only a subject's session
        self.session, self.keyring, self.context = session, keyring, context
        self.principal, self.evidence = principal, evidence
        self.external_id = principal.subject

    async def consents(self, form: Form) -> int:
        """Grant what is ticked and withdraw what is not, for one purpose; the changes made."""
        reason, text = parse_feedback(form.get("reason"), form.get("text"))
        key = form.get("purpose") or ""
        purposes = {p.key: p for p in await PurposeService(self.session).list_all()}
        purpose = purposes.get(key)
        if purpose is None or purpose.legal_basis != "consent":
            raise InvalidInput("Choose one of the subjects on the page.", field="purpose")
        wanted = set(form.all("channel"))
        if wanted - set(purpose.channels):
            raise InvalidInput("Choose one of the channels on the page.", field="channel")
        states = await current_states(self.session, self.keyring, self.context, self.external_id)
        service = ConsentService(self.session, self.keyring, self.context)
        made = 0
        for channel in purpose.channels:
            on = states.get((key, channel)) in ON_STATES
            if on == (channel in wanted):
                continue
            action = "grant" if channel in wanted else "withdraw"
            request = ConsentRequest(
                purpose=key,
                channel=channel,
                action=action,
                source=SOURCE,
                collection_method="web_form",
                page=PAGE,
            )
            await service.record(self.external_id, request, self.evidence, self.principal.actor)
            made += 1
            if action == "withdraw":
                await self._feedback(Feedback("withdrawal", reason, text, key, channel))
        return made

    async def less(self, form: Form, etag: str | None) -> int:
        """Frequencies per channel and topic choices ("send me less")."""
        reason, text = parse_feedback(form.get("reason"), form.get("text"))
        current = (await PreferenceService(self.session).get(self.external_id)).doc
        channels: dict[str, Any] = {}
        rarer: list[str] = []
        for channel, settings in current["channels"].items():
            chosen = form.get(f"frequency_{channel}")
            if chosen is None or chosen == settings["frequency"]:
                continue
            if chosen not in FREQUENCIES:
                raise InvalidInput("Choose one of the offered frequencies.", field="frequency")
            channels[channel] = {"frequency": chosen}
            if FREQUENCIES.index(chosen) > FREQUENCIES.index(settings["frequency"]):
                rarer.append(channel)
        kept = set(form.all("topic"))
        topics = {
            purpose: [slug for slug in slugs if f"{purpose}/{slug}" in kept]
            for purpose, slugs in current["topics"].items()
            if any(f"{purpose}/{slug}" not in kept for slug in slugs)
        }
        patch: dict[str, Any] = {}
        if channels:
            patch["channels"] = channels
        if topics:
            patch["topics"] = topics
        if not patch:
            return 0
        await PreferenceService(self.session).patch(self.external_id, patch, etag, self.principal)
        for channel in rarer:
            await self._feedback(Feedback("less", reason, text, None, channel))
        if topics and not rarer:
            await self._feedback(Feedback("less", reason, text))
        return 1

    async def settings(self, form: Form, etag: str | None, today: date) -> int:
        """Pause until a date, quiet hours, and "stop all marketing"."""
        reason, text = parse_feedback(form.get("reason"), form.get("text"))
        current = (await PreferenceService(self.session).get(self.external_id)).doc
        zone_name = (form.get("quiet_zone") or DEFAULT_ZONE).strip()
        zone = _zone(zone_name)
        patch: dict[str, Any] = {}
        paused = _pause(form.get("paused_until") or "", zone, today)
        if paused != _same_instant(current["paused_until"]):
            patch["paused_until"] = paused.isoformat() if paused else None
        quiet = _quiet_hours(form.get("quiet_start") or "", form.get("quiet_end") or "", zone_name)
        if quiet != current["quiet_hours"]:
            patch["quiet_hours"] = quiet
        stop_all = form.get("stop_all") == "on"
        if stop_all != current["marketing_opt_out"]:
            patch["marketing_opt_out"] = stop_all
        if not patch:
            return 0
        await PreferenceService(self.session).patch(self.external_id, patch, etag, self.principal)
        if patch.get("paused_until"):
            await self._feedback(Feedback("pause", reason, text))
        if patch.get("marketing_opt_out"):
            await self._feedback(Feedback("stop_all", reason, text))
        return 1

    async def _feedback(self, feedback: Feedback) -> None:
        subject = await live_subject(self.session, self.external_id)
        await give_feedback(self.session, self.keyring, subject.id, feedback)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        raise InvalidInput(
            "Choose a time zone such as Europe/Helsinki.", field="quiet_zone"
        ) from None


def _pause(value: str, zone: ZoneInfo, today: date) -> datetime | None:
    """The start of the chosen day in the person's zone: messages resume on that date."""
    if not value.strip():
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput("Give the date as YYYY-MM-DD.", field="paused_until") from None
    if day <= today:
        raise InvalidInput("Choose a date after today.", field="paused_until")
    return datetime.combine(day, time(0, 0), tzinfo=zone)


def _same_instant(stored: Any) -> datetime | None:
    if not stored:
        return None
    return stored if isinstance(stored, datetime) else datetime.fromisoformat(str(stored))


def _quiet_hours(start: str, end: str, zone: str) -> dict[str, str] | None:
    start, end = start.strip()[:5], end.strip()[:5]
    if not start and not end:
        return None
    if not (CLOCK.match(start) and CLOCK.match(end)):
        raise InvalidInput("Give both times of the quiet hours as HH:MM.", field="quiet_hours")
    return {"start": start, "end": end, "timezone": zone}
