"""Downloads of an access package: by an officer, or once through the link mailed to the
requester. Every download is an audit event naming who (a role and token id, or the link),
never the person.

A link carries a JWS of kind ``DOWNLOAD_LINK`` whose ``jti`` is a ``dsar_download_links`` row;
a download spends the row in one conditional UPDATE, so a link works once, until it expires.
A refused download (used, expired, forged) changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal, NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from services.dsar.db import packages as repo
from services.dsar.service.packages import StoredPackage, read_package
from shared.audit.outbox import AuditEvent, record_event
from shared.auth.kinds import DOWNLOAD_LINK
from shared.auth.tokens import InvalidToken, sign_claims, verify_with_rotation
from shared.errors import LinkExpired, NotFound
from shared.keys import Keyring

DEFAULT_TTL_S = 7 * 24 * 3600
Format = Literal["json", "html"]
# PyJWT's reason for a token whose exp has passed (shared.auth.tokens keeps it).
EXPIRED = "ExpiredSignatureError"


async def mint_download_link(
    session: AsyncSession,
    keyring: Keyring,
    request_id: uuid.UUID,
    ttl_s: int = DEFAULT_TTL_S,
    *,
    base_url: str,
) -> str:
    """A single-use link to the request's stored package: ``<base_url>/v1/downloads/<token>``.
    ``NotFound`` while the request has no package."""
    if await repo.package_row(session, request_id) is None:
        raise NotFound("This request has no package to link to.")
    link_id = uuid.uuid4()
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=ttl_s)
    await repo.insert_link(session, link_id, request_id, expires_at)
    await record_event(
        session,
        AuditEvent(
            service="dsar",
            type="download_link.minted",
            subject=str(request_id),
            data={"link": str(link_id), "expires_at": expires_at.isoformat()},
        ),
    )
    claims = {
        "jti": str(link_id),
        "request": str(request_id),
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
    }
    return f"{base_url.rstrip('/')}/v1/downloads/{sign_claims(keyring, claims, DOWNLOAD_LINK)}"


async def download_by_link(
    session: AsyncSession, keyring: Keyring, token: str, fmt: Format
) -> StoredPackage:
    """The package the link names, spending the link; 410 once used or expired, 404 for a
    token Lupa did not sign for this."""
    link_id, request_id = _link_of(keyring, token)
    spent = await repo.spend_link(session, link_id)
    if spent is None:
        await _refuse_unspendable(session, link_id)
    if spent != request_id:
        raise NotFound("There is no such download link.")
    by = {"by": "requester_link", "link": str(link_id)}
    return await download_package(session, keyring, request_id, by, fmt)


async def download_package(
    session: AsyncSession,
    keyring: Keyring,
    request_id: uuid.UUID,
    by: dict[str, str],
    fmt: Format,
) -> StoredPackage:
    """The stored package, recording who downloaded it in which format."""
    stored = await read_package(session, keyring, request_id)
    await record_event(
        session,
        AuditEvent(
            service="dsar",
            type="package.downloaded",
            subject=str(request_id),
            data={**by, "format": fmt},
        ),
    )
    return stored


def _link_of(keyring: Keyring, token: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The link row id and request id a valid token names."""
    try:
        claims = verify_with_rotation(keyring, token, DOWNLOAD_LINK)
    except InvalidToken as exc:
        if str(exc) == EXPIRED:
            raise LinkExpired("This download link has expired.") from None
        raise NotFound("There is no such download link.") from None
    try:
        return uuid.UUID(str(claims.get("jti"))), uuid.UUID(str(claims.get("request")))
    except ValueError:
        raise NotFound("There is no such download link.") from None


async def _refuse_unspendable(session: AsyncSession, link_id: uuid.UUID) -> NoReturn:
    """Say why a link could not be spent: unknown, already used, or expired."""
    row = await repo.link_row(session, link_id)
    if row is None:
        raise NotFound("There is no such download link.")
    if row.used_at is not None:
        raise LinkExpired("This download link has already been used.")
    raise LinkExpired("This download link has expired.")
