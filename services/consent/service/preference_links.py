"""Signed links to the preference centre: ``<public url>/preferences?token=…``.

The token is an EdDSA JWS of kind ``PREFERENCE_LINK`` (header ``typ`` "preference-link+jwt",
``aud`` "urn:lupa:consent:preference-centre"), its ``sub`` the subject's external id, valid
``LINK_TTL``. Any other kind of token, or an expired one, is refused.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import subjects as subject_repo
from shared.auth.kinds import PREFERENCE_LINK
from shared.auth.tokens import InvalidToken, sign_claims, verify_with_rotation
from shared.errors import InvalidLink, LinkExpired
from shared.keys import Keyring

LINK_TTL = timedelta(days=30)


@dataclass(frozen=True)
class PreferenceLink:
    url: str
    expires_at: datetime


def mint_link(
    keyring: Keyring, base_url: str, external_id: str, now: datetime | None = None
) -> PreferenceLink:
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    expires = now + LINK_TTL
    token = sign_claims(
        keyring,
        {
            "sub": external_id,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": secrets.token_hex(8),
        },
        PREFERENCE_LINK,
    )
    return PreferenceLink(f"{base_url.rstrip('/')}/preferences?token={token}", expires)


def read_link(keyring: Keyring, token: str) -> str:
    """The external id the link was minted for; expired (410) and invalid (400) refused."""
    try:
        claims = verify_with_rotation(keyring, token, PREFERENCE_LINK)
        subject = claims["sub"]
    except InvalidToken as exc:
        if "Expired" in str(exc):
            raise LinkExpired(
                "This link has expired; use the link in our latest message."
            ) from None
        raise InvalidLink("This link is not valid; use the link in our latest message.") from None
    except KeyError:
        raise InvalidLink("This link is not valid; use the link in our latest message.") from None
    if not isinstance(subject, str) or not subject:
        raise InvalidLink("This link is not valid; use the link in our latest message.")
    return subject


async def link_for_subject(
    session: AsyncSession, keyring: Keyring, base_url: str, subject_id: object
) -> str | None:
    """A preference-centre link for the subject a verified token names by its internal uuid
    (the unsubscribe and confirmation pages); None for an unknown or erased subject."""
    try:
        row = await subject_repo.get_by_id(session, uuid.UUID(str(subject_id)))
    except ValueError:
        return None
    if row is None or row.erased_at is not None:
        return None
    return mint_link(keyring, base_url, row.external_id).url


def token_subject(token: str) -> str | None:
    """The ``sub`` of a token the caller has already verified (read again, unverified)."""
    try:
        return str(jwt.decode(token, options={"verify_signature": False})["sub"])
    except (jwt.PyJWTError, KeyError):
        return None
