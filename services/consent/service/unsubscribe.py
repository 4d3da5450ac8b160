"""One-click unsubscribe (RFC 8058): signed per-recipient links, and the withdrawal they make.

A link carries an EdDSA token of kind ``UNSUBSCRIBE_LINK`` (header ``typ``
"unsubscribe-link+jwt", ``aud`` "urn:lupa:link:unsubscribe") bound to the subject's internal uuid
(not the customer id, which would leak into mail headers), the purpose and the channel. It lives
``LINK_TTL`` (a year: people unsubscribe from old mail). Altering any claim breaks the signature,
so a token can withdraw only what it was minted for, for only the subject it names.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import ledger as ledger_repo
from services.consent.db import purposes as purpose_repo
from services.consent.db import subjects as subject_repo
from services.consent.db import unsubscribe as link_repo
from services.consent.domain.consents import ConsentRequest
from services.consent.domain.errors import ChannelNotAllowed, UnknownPurpose
from services.consent.service.consents import ConsentService
from services.consent.service.evidence import Evidence
from services.consent.service.receipts import LedgerContext, localised
from shared.auth.kinds import TokenKind
from shared.auth.tokens import InvalidToken, sign_claims, verify_with_rotation
from shared.errors import InvalidLink, LinkExpired
from shared.keys import Keyring

# A link signed before links had their own header typ and aud still unsubscribes until it
# expires (LINK_TTL): withdrawing must stay as easy as giving, old mail included.
UNSUBSCRIBE_LINK = TokenKind(
    claim="unsubscribe",
    header_typ="unsubscribe-link+jwt",
    audience="urn:lupa:link:unsubscribe",
    accepts_legacy=True,
)
LINK_TTL = timedelta(days=365)
SOURCE = "one_click_unsubscribe"
ACTOR = "link:one_click_unsubscribe"


@dataclass(frozen=True)
class UnsubscribeLink:
    subject_id: uuid.UUID
    purpose: str
    channel: str


def mint_token(keyring: Keyring, link: UnsubscribeLink, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return sign_claims(
        keyring,
        {
            "sub": str(link.subject_id),
            "purpose": link.purpose,
            "channel": link.channel,
            "iat": int(now.timestamp()),
            "exp": int((now + LINK_TTL).timestamp()),
            "jti": secrets.token_hex(6),
        },
        UNSUBSCRIBE_LINK,
    )


def link_url(base_url: str, token: str) -> str:
    return f"{base_url}/v1/unsubscribe/{token}"


def ensure_linkable(purpose: str, channel: str, channels: Sequence[str] | None) -> None:
    """A link may name only a purpose that exists, on one of its channels (``channels`` is
    ``None`` for an unknown purpose): anything else would be a link that withdraws nothing."""
    if channels is None:
        raise UnknownPurpose("There is no purpose with this key.", field="purpose")
    if channel not in channels:
        raise ChannelNotAllowed(
            "The purpose does not use this channel.",
            channels=list(channels),
        )


def read_token(keyring: Keyring, token: str) -> UnsubscribeLink:
    """The link's claims; forged, altered, other-use and expired tokens are refused."""
    try:
        claims = verify_with_rotation(keyring, token, UNSUBSCRIBE_LINK)
        return UnsubscribeLink(
            uuid.UUID(str(claims["sub"])), str(claims["purpose"]), str(claims["channel"])
        )
    except InvalidToken as exc:
        if "Expired" in str(exc):
            raise LinkExpired(
                "This unsubscribe link has expired; use the preference centre "
                "or contact us to unsubscribe."
            ) from None
        raise InvalidLink("This unsubscribe link is not valid.") from None
    except (KeyError, ValueError):
        raise InvalidLink("This unsubscribe link is not valid.") from None


@dataclass(frozen=True)
class LinkView:
    """What a link's page shows: the purpose's title in the subject's language."""

    purpose_title: str
    channel: str
    language: str


@dataclass(frozen=True)
class Unsubscribed:
    """What a one-click POST did, and the subject's language for the page that says so."""

    withdrew: bool  # False when nothing was left to withdraw
    language: str


class UnsubscribeService:
    def __init__(self, session: AsyncSession, keyring: Keyring, context: LedgerContext) -> None:
        self.session = session
        self.keyring = keyring
        self.context = context

    async def mint(
        self, external_ids: Sequence[str], purpose: str, channel: str
    ) -> list[str | None]:
        """One URL per requested subject, in order; ``None`` for a subject Lupa does not know."""
        terms = await purpose_repo.get(self.session, purpose)
        ensure_linkable(purpose, channel, terms.channels if terms else None)
        known = await link_repo.live_subject_ids(self.session, external_ids)
        now = datetime.now(UTC)
        base = self.context.public_base_url
        return [
            link_url(
                base, mint_token(self.keyring, UnsubscribeLink(known[ext], purpose, channel), now)
            )
            if ext in known
            else None
            for ext in external_ids
        ]

    async def view(self, token: str) -> LinkView:
        """The link's purpose and channel as its page shows them (reads only)."""
        link = read_token(self.keyring, token)
        subject = await subject_repo.get_by_id(self.session, link.subject_id)
        purpose = await purpose_repo.get(self.session, link.purpose)
        language = subject.locale if subject is not None else "en"
        title = localised(purpose.title, language) if purpose else link.purpose
        return LinkView(title or link.purpose, link.channel, language)

    async def unsubscribe(self, token: str, evidence: Evidence) -> Unsubscribed:
        """Withdraw what the link names (nothing when nothing is left to withdraw)."""
        link = read_token(self.keyring, token)
        # The subject's row lock first, as every ledger writer takes it: a POST retried while
        # the first is still running then reads the first one's withdrawal, not the grant.
        subject = await ledger_repo.lock_subject(self.session, link.subject_id)
        if subject is None or subject.erased_at is not None:
            # Erased since: there is no one left to mail.
            return Unsubscribed(False, subject.locale if subject else "en")
        row = await ledger_repo.current_state(
            self.session, link.subject_id, link.purpose, link.channel
        )
        if row is not None and row.state == "withdrawn":
            # A replayed POST (mailbox providers retry) changes nothing.
            return Unsubscribed(False, subject.locale)
        request = ConsentRequest(
            purpose=link.purpose,
            channel=link.channel,
            action="withdraw",
            source=SOURCE,
            collection_method="one_click",
        )
        await ConsentService(self.session, self.keyring, self.context).record(
            subject.external_id, request, evidence, ACTOR
        )
        return Unsubscribed(True, subject.locale)
