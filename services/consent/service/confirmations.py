"""Double opt-in: what a confirmation link would confirm, and confirming it exactly once.

A pending grant becomes consent only through its signed link. The link confirms that one
pending event: if anything was recorded on the purpose and channel since (a withdrawal, a new
grant), the link does nothing.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import ledger as repo
from services.consent.db import purposes as purpose_repo
from services.consent.db import subjects as subject_repo
from services.consent.db.ledger import StoredEvent
from services.consent.db.subjects import SubjectRow
from services.consent.domain.consents import NewEvent
from services.consent.domain.errors import ConfirmationSuperseded
from services.consent.service.consents import CONFIRM_LINK
from services.consent.service.evidence import Evidence, hash_evidence
from services.consent.service.ledger import LedgerWriter
from services.consent.service.receipts import IssuedReceipt, LedgerContext, localised
from shared.auth.tokens import InvalidToken, verify_with_rotation
from shared.errors import InvalidLink, LinkExpired
from shared.keys import Keyring

_TOKEN = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
CONFIRM_ACTOR = "link:confirm"
HOW_TO_CONFIRM = "POST to this same URL to confirm."


@dataclass(frozen=True, slots=True)
class LinkTarget:
    subject_id: uuid.UUID
    event_id: uuid.UUID
    purpose: str
    channel: str


class ConfirmationPreview(msgspec.Struct, frozen=True):
    """What a link would confirm, shown without changing anything."""

    purpose: str
    title: str
    titles: dict[str, str]
    channel: str
    purpose_version: int
    awaiting_confirmation: bool
    how: str
    language: str  # the subject's: the language of the confirmation page


class ConfirmationReceipt(IssuedReceipt, frozen=True):
    """The confirm event's receipt, under the name the OpenAPI document has always given it."""


class ConfirmationResult(msgspec.Struct, frozen=True, omit_defaults=True):
    """What confirming did; a receipt only when this call recorded the confirmation."""

    outcome: str  # "confirmed" or "already_confirmed"
    purpose: str
    channel: str
    state: str
    receipt: ConfirmationReceipt | None = None


@dataclass(frozen=True, slots=True)
class Confirmed:
    """What confirming did, and the subject's language for the page that says so."""

    result: ConfirmationResult
    language: str


def read_link(keyring: Keyring, token: str) -> LinkTarget:
    """The pending event a confirmation token names; forged, foreign or expired links fail."""
    if len(token) > 4096 or not _TOKEN.match(token):
        raise InvalidLink("This confirmation link is not valid.")
    try:
        claims = verify_with_rotation(keyring, token, CONFIRM_LINK)
        return LinkTarget(
            uuid.UUID(str(claims["sub"])),
            uuid.UUID(str(claims["event"])),
            str(claims["purpose"]),
            str(claims["channel"]),
        )
    except InvalidToken as exc:
        if str(exc) == "ExpiredSignatureError":
            raise LinkExpired("This confirmation link has expired; ask for a new one.") from None
        raise InvalidLink("This confirmation link is not valid.") from None
    except (KeyError, ValueError):
        raise InvalidLink("This confirmation link is not valid.") from None


class ConfirmationService:
    def __init__(self, session: AsyncSession, keyring: Keyring, context: LedgerContext) -> None:
        self.session = session
        self.keyring = keyring
        self.context = context

    async def preview(self, token: str) -> ConfirmationPreview:
        """What the link confirms, for a page a mail scanner may fetch: it changes nothing."""
        target = read_link(self.keyring, token)
        pending = await self._pending_event(target)
        version = pending.event.purpose_version
        text = await purpose_repo.get_version(self.session, target.purpose, version)
        state = await repo.current_state(
            self.session, target.subject_id, target.purpose, target.channel
        )
        subject = await subject_repo.get_by_id(self.session, target.subject_id)
        return ConfirmationPreview(
            purpose=target.purpose,
            title=localised(text.title, "en"),
            titles=text.title,
            channel=target.channel,
            purpose_version=version,
            awaiting_confirmation=state is not None and state.last_event_id == pending.id,
            how=HOW_TO_CONFIRM,
            language=subject.locale if subject is not None else "en",
        )

    async def confirm(self, token: str, evidence: Evidence) -> Confirmed:
        target = read_link(self.keyring, token)
        subject = await repo.lock_subject(self.session, target.subject_id)
        if subject is None or subject.erased_at is not None:
            raise ConfirmationSuperseded("This confirmation link no longer applies.")
        return Confirmed(await self._confirm(target, subject, evidence), subject.locale)

    async def _confirm(
        self, target: LinkTarget, subject: SubjectRow, evidence: Evidence
    ) -> ConfirmationResult:
        pending = await self._pending_event(target)
        state = await repo.current_state(
            self.session, target.subject_id, target.purpose, target.channel
        )
        if state is not None and state.last_event_id == pending.id and state.state == "pending":
            receipt = await self._append_confirm(subject, pending, evidence)
            return ConfirmationResult(
                "confirmed", target.purpose, target.channel, "granted", receipt
            )
        if (
            state is not None
            and state.state == "granted"
            and await repo.confirmed_after(self.session, pending)
        ):
            return ConfirmationResult(
                "already_confirmed", target.purpose, target.channel, "granted"
            )
        raise ConfirmationSuperseded(
            "The consent changed after this link was sent (for example "
            "it was withdrawn), so the link no longer confirms anything."
        )

    async def _pending_event(self, target: LinkTarget) -> StoredEvent:
        stored = await repo.event_by_uuid(self.session, target.event_id)
        if (
            stored is None
            or stored.subject_id != target.subject_id
            or stored.event.state != "pending"
            or stored.event.purpose_key != target.purpose
            or stored.event.channel != target.channel
        ):
            raise InvalidLink("This confirmation link is not valid.")
        return stored

    async def _append_confirm(
        self, subject: SubjectRow, pending: StoredEvent, evidence: Evidence
    ) -> ConfirmationReceipt:
        event = pending.event
        purpose = await purpose_repo.get(self.session, event.purpose_key)
        assert purpose is not None  # the ledger row's foreign key keeps the purpose alive
        hashes = hash_evidence(self.keyring, evidence)
        appended = await LedgerWriter(self.session, self.keyring, self.context).append(
            subject,
            NewEvent(
                purpose=purpose,
                version=event.purpose_version,
                channel=event.channel,
                action="confirm",
                state="granted",
                source="double_opt_in",
                actor=CONFIRM_ACTOR,
                given_by=event.given_by,
                collection_method="email_link",
                occurred_at=datetime.now(UTC),
                page=event.page,
                ip_hash=hashes.ip_hash,
                ua_hash=hashes.ua_hash,
            ),
        )
        return ConfirmationReceipt(appended.receipt.id, appended.receipt.jws)
