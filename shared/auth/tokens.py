"""Compact JWS tokens (EdDSA): API bearer tokens and every signed link Lupa hands out.

Every token says what kind it is (``shared.auth.kinds``): its own header ``typ``, its own
``aud`` and the private ``typ`` claim, all three checked, so a token minted for one job can
never be presented for another.
"""

from __future__ import annotations

import json
import secrets
import time
from calendar import timegm
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt

from shared.auth.kinds import ACCESS_TOKEN, METRICS_TOKEN, TokenKind
from shared.keys import Keyring, SigningKey, b64u, unb64u

ISSUER = "lupa"
ROLES = ("admin", "portal", "marketing", "officer", "cx")

# A JWT's claims as PyJWT takes and gives them: JSON whose members depend on the token's
# kind, so each reader turns the ones it needs into its own typed value.
Claims = Mapping[str, Any]


class InvalidToken(Exception):
    """Signature, expiry, issuer or purpose does not check out."""


# The payload JSON exactly as PyJWT writes it: compact separators, the standard encoder's
# defaults otherwise (non-ASCII escaped, members in the caller's order).
_PAYLOAD_JSON = json.JSONEncoder(separators=(",", ":"))
_TIME_CLAIMS = ("exp", "iat", "nbf")


def sign_claims(keyring: Keyring, claims: Claims, kind: TokenKind) -> str:
    """A compact JWS (EdDSA) of ``kind`` over the claims, byte for byte what ``jwt.encode``
    writes, built directly: the header segment is computed once per key and kind, so a
    signature is JSON plus Ed25519.

    The newest key of the keyring file signs (``Keyring.newest()``: a stat while the file is
    unchanged), so ``lupa keys rotate --signing`` takes effect in a running process at once."""
    key = keyring.newest().active_signing
    payload = _jwt_payload({"iss": ISSUER, "aud": kind.audience, "typ": kind.claim, **claims})
    header = key.jws_header_segment(kind.header_typ)
    signing_input = f"{header}.{b64u(_PAYLOAD_JSON.encode(payload).encode())}"
    signature = key.private_key.sign(signing_input.encode())
    return f"{signing_input}.{b64u(signature)}"


def _jwt_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """PyJWT's two payload rules: a datetime in a time claim becomes its NumericDate, and the
    issuer must be a string."""
    for claim in _TIME_CLAIMS:
        value = payload.get(claim)
        if isinstance(value, datetime):
            payload[claim] = timegm(value.utctimetuple())
    if not isinstance(payload["iss"], str):
        raise TypeError("Issuer (iss) must be a string.")
    return payload


def verify_claims(keyring: Keyring, token: str, kind: TokenKind) -> Claims:
    """The claims of a token of ``kind``: signature, issuer, time claims, and the kind itself
    (header ``typ``, ``aud`` and the ``typ`` claim); ``InvalidToken`` naming why not.

    The kind is checked after PyJWT, which reads the audience only as this kind's: a broken
    token keeps the reason PyJWT gives it, and one of another kind reads as meant for another
    use whichever of the three gives it away.
    """
    try:
        key = _named_signing_key(keyring, token)
        decoded = jwt.decode_complete(
            token,
            key.public_key,
            algorithms=["EdDSA"],
            issuer=ISSUER,
            options={"require": ["iss", "typ", "iat"], "verify_aud": False},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from None
    claims: Claims = decoded["payload"]
    header_typ = decoded["header"].get("typ")
    if claims.get("typ") != kind.claim or not kind.issued_as(
        header_typ, claims.get("aud"), "aud" in claims
    ):
        raise InvalidToken("token is meant for another use")
    return claims


def _named_signing_key(keyring: Keyring, token: str) -> SigningKey:
    """The key the token's header names, reading only the header segment when it names a key
    we hold: ``jwt.decode_complete`` then checks the whole token first thing, refusing a
    malformed one for the very reason ``jwt.get_unverified_header`` would have (both start
    with PyJWT's ``_load`` and header checks), so reading the token twice would only double
    the work.
    Anything else takes PyJWT's own reading, so each refusal keeps its reason."""
    key = keyring.signing_key(_header_kid(token))
    if key is not None:
        return key
    kid = jwt.get_unverified_header(token).get("kid")
    key = keyring.signing_key(str(kid))
    if key is None:
        raise InvalidToken("unknown signing key")
    return key


def _header_kid(token: str) -> str:
    """The ``kid`` of a compact JWS's header; "" when the header does not read as one."""
    try:
        header = json.loads(unb64u(token.partition(".")[0]))
    except (ValueError, TypeError, RecursionError):  # bad base64, UTF-8 or JSON
        return ""
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else ""


def verify_with_rotation(keyring: Keyring, token: str, kind: TokenKind) -> Claims:
    """``verify_claims``, consulting the keyring file once more before refusing the token.

    A token signed after ``lupa keys rotate --signing`` (by another process, or the CLI) names
    a kid this process has not loaded yet; the file is re-read only when it changed.
    """
    try:
        return verify_claims(keyring, token, kind)
    except InvalidToken:
        newest = keyring.newest()
        if newest is keyring:
            raise
        return verify_claims(newest, token, kind)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role, and for portal tokens optionally the one subject they may touch."""

    role: str
    subject: str | None
    token_id: str

    @property
    def actor(self) -> str:
        """The opaque actor recorded in evidence and audit events (no personal data)."""
        return f"{self.role}:{self.token_id}"


def issue_access_token(
    keyring: Keyring,
    role: str,
    subject: str | None,
    ttl_seconds: int,
    token_id: str | None = None,
) -> str:
    """A bearer token of ``role`` (bound to ``subject`` if given) living ``ttl_seconds``;
    ``token_id`` is its ``jti`` (random unless the caller records it, as the exchange does)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    now = int(time.time())
    jti = token_id or secrets.token_hex(8)
    claims = {"role": role, "iat": now, "exp": now + ttl_seconds, "jti": jti}
    bound = {"sub": subject} if subject is not None else {}
    return sign_claims(keyring, {**claims, **bound}, ACCESS_TOKEN)


def issue_metrics_token(keyring: Keyring, ttl_seconds: int) -> str:
    """A token that reads ``GET /metrics`` of every service and nothing else."""
    now = int(time.time())
    claims = {"iat": now, "exp": now + ttl_seconds, "jti": secrets.token_hex(8)}
    return sign_claims(keyring, claims, METRICS_TOKEN)


def verify_metrics_token(keyring: Keyring, token: str) -> Claims:
    """The claims of a metrics token (it must expire); ``InvalidToken`` otherwise."""
    claims = verify_with_rotation(keyring, token, METRICS_TOKEN)
    if "exp" not in claims:
        raise InvalidToken("token has no expiry")
    return claims


class AccessTokenVerifier:
    """Verifies bearer tokens, remembering recent ones: Ed25519 verification costs ~100 µs."""

    def __init__(self, keyring: Keyring, cache_size: int = 4096) -> None:
        self.keyring = keyring
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[Principal, int]] = OrderedDict()

    def verify(self, token: str) -> Principal:
        return self.verify_with_expiry(token)[0]

    def verify_with_expiry(self, token: str) -> tuple[Principal, int]:
        """``verify``, and when the token expires (NumericDate): a token exchange mints
        nothing that outlives the token it exchanges."""
        cached = self._cache.get(token)
        if cached is not None:
            if cached[1] > time.time():
                return cached
            del self._cache[token]
        claims = verify_with_rotation(self.keyring, token, ACCESS_TOKEN)
        role = claims.get("role")
        if role not in ROLES or "exp" not in claims:
            raise InvalidToken("token has no valid role or expiry")
        principal = Principal(
            role=role, subject=claims.get("sub"), token_id=str(claims.get("jti", ""))
        )
        verified = self._cache[token] = (principal, int(claims["exp"]))
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return verified
