"""Token exchange (RFC 8693): the portal backend's unbound token becomes a short-lived token
bound to one subject, and that is all an unbound portal token may do.

The rules live here, away from HTTP: which parameters a request must carry, which tokens may
be exchanged, and how long the minted token lives. ``shared.token_exchange_api`` is the edge.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shared.auth.tokens import AccessTokenVerifier, InvalidToken, Principal, issue_access_token
from shared.errors import Forbidden, LupaError, Unauthorized
from shared.keys import Keyring

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 (a URN)
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105 (a URN)
# A Lupa access token is both an OAuth access token and a JWT (RFC 9068): either names it.
SUBJECT_TOKEN_TYPES = frozenset({ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE})
# What a portal page needs for one visit: long enough for a session, short enough that a
# token left in a browser is soon worthless.
EXCHANGED_TTL_SECONDS = 15 * 60
# The consent service's external id rule (services/consent/domain/subjects.py), restated
# because the kernel knows no service: printable ASCII, no space at either end, 1-128.
_EXTERNAL_ID = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]{0,126}[\x21-\x7e])?(?!\n)$")
# RFC 8693 parameters Lupa does not offer: delegation (actor) and choosing another audience.
_UNSUPPORTED = ("actor_token", "actor_token_type", "audience", "resource", "scope")
_SINGLE = ("grant_type", "subject_token", "subject_token_type", "subject", "requested_token_type")


class InvalidTokenRequest(LupaError):
    """The request is not a token exchange Lupa performs; ``error`` is the RFC 6749 code."""

    status, slug, title = 400, "invalid-token-request", "The token request is not valid"


@dataclass(frozen=True, slots=True)
class ExchangeRequest:
    """A well-formed exchange: the token to exchange and the external id to bind to."""

    subject_token: str
    subject: str


@dataclass(frozen=True, slots=True)
class ExchangedToken:
    access_token: str
    expires_in: int
    token_id: str


def read_request(params: Mapping[str, Sequence[str]]) -> ExchangeRequest:
    """The exchange the form parameters ask for, or ``InvalidTokenRequest`` naming what is
    wrong (never echoing a value). RFC 6749 §3.2: a parameter given twice is refused, and
    parameters Lupa does not know are ignored."""
    for name in _SINGLE:
        if len(params.get(name, ())) > 1:
            raise InvalidTokenRequest(f"'{name}' is given more than once.", error="invalid_request")
    one = {name: values[0] for name, values in params.items() if name in _SINGLE and values}
    grant = one.get("grant_type")
    if grant is None:
        raise InvalidTokenRequest("'grant_type' is missing.", error="invalid_request")
    if grant != GRANT_TYPE:
        raise InvalidTokenRequest(
            f"Only grant_type '{GRANT_TYPE}' is offered.", error="unsupported_grant_type"
        )
    for name in ("subject_token", "subject_token_type", "subject"):
        if not one.get(name):
            raise InvalidTokenRequest(f"'{name}' is missing.", error="invalid_request")
    if one["subject_token_type"] not in SUBJECT_TOKEN_TYPES:
        raise InvalidTokenRequest(
            "subject_token_type must be an access_token or jwt token type.",
            error="invalid_request",
        )
    if one.get("requested_token_type", ACCESS_TOKEN_TYPE) != ACCESS_TOKEN_TYPE:
        raise InvalidTokenRequest("Only access tokens are issued.", error="invalid_request")
    unsupported = [name for name in _UNSUPPORTED if name in params]
    if unsupported:
        raise InvalidTokenRequest(
            f"'{unsupported[0]}' is not supported: the token is bound to 'subject' only.",
            error="invalid_request",
        )
    if not _EXTERNAL_ID.match(one["subject"]):
        raise InvalidTokenRequest(
            "'subject' must be 1-128 printable ASCII characters.", error="invalid_request"
        )
    return ExchangeRequest(one["subject_token"], one["subject"])


def exchanging_principal(
    verifier: AccessTokenVerifier, subject_token: str
) -> tuple[Principal, int]:
    """The portal backend behind ``subject_token`` and when its token expires: 401 for a token
    that does not verify (RFC 8693 says ``invalid_request``; the status is HTTP's own, as on
    every route), 403 for a valid token that may not exchange."""
    try:
        principal, expires_at = verifier.verify_with_expiry(subject_token)
    except InvalidToken:
        raise Unauthorized(
            "The subject_token is invalid or expired.", error="invalid_request"
        ) from None
    if principal.role != "portal" or principal.subject is not None:
        raise Forbidden(
            "Only a portal token without a subject may be exchanged.", error="unauthorized_client"
        )
    return principal, expires_at


def mint(keyring: Keyring, subject: str, backend_expires_at: int) -> ExchangedToken:
    """A portal token bound to ``subject``: ``EXCHANGED_TTL_SECONDS``, never outliving the
    token it was exchanged for."""
    ttl = min(EXCHANGED_TTL_SECONDS, backend_expires_at - int(time.time()))
    if ttl <= 0:  # expired in the instant since it verified
        raise Unauthorized("The subject_token is invalid or expired.", error="invalid_request")
    token_id = secrets.token_hex(8)
    token = issue_access_token(keyring, "portal", subject, ttl, token_id=token_id)
    return ExchangedToken(token, ttl, token_id)
