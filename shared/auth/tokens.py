"""Compact JWS tokens (EdDSA): API bearer tokens and every signed link Lupa hands out.

Every token names its use in ``typ`` ("access", "confirm", "unsubscribe", ...), so a link
minted for one job can never be presented for another.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from shared.keys import Keyring

ISSUER = "lupa"
ROLES = ("admin", "portal", "marketing", "officer", "cx")

# A JWT's claims as PyJWT takes and gives them: JSON whose members depend on the token's
# ``typ``, so each reader turns the ones it needs into its own typed value.
Claims = Mapping[str, Any]


class InvalidToken(Exception):
    """Signature, expiry, issuer or purpose does not check out."""


def sign_claims(keyring: Keyring, claims: Claims, typ: str) -> str:
    key = keyring.active_signing
    return jwt.encode(
        {"iss": ISSUER, "typ": typ, **claims},
        key.private_key,
        algorithm="EdDSA",
        headers={"kid": key.kid, "typ": "JWT"},
    )


def verify_claims(keyring: Keyring, token: str, typ: str) -> Claims:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = keyring.signing_key(str(kid))
        if key is None:
            raise InvalidToken("unknown signing key")
        claims: Claims = jwt.decode(
            token,
            key.private_key.public_key(),
            algorithms=["EdDSA"],
            issuer=ISSUER,
            options={"require": ["iss", "typ", "iat"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from None
    if claims.get("typ") != typ:
        raise InvalidToken("token is meant for another use")
    return claims


def verify_with_rotation(keyring: Keyring, token: str, typ: str) -> Claims:
    """``verify_claims``, consulting the keyring file once more before refusing the token.

    A token signed after ``lupa keys rotate --signing`` (by another process, or the CLI) names
    a kid this process has not loaded yet; the file is re-read only when it changed.
    """
    try:
        return verify_claims(keyring, token, typ)
    except InvalidToken:
        newest = keyring.newest()
        if newest is keyring:
            raise
        return verify_claims(newest, token, typ)


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


def issue_access_token(keyring: Keyring, role: str, subject: str | None, ttl_seconds: int) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    now = int(time.time())
    claims = {"role": role, "iat": now, "exp": now + ttl_seconds, "jti": secrets.token_hex(8)}
    bound = {"sub": subject} if subject is not None else {}
    return sign_claims(keyring, {**claims, **bound}, "access")


class AccessTokenVerifier:
    """Verifies bearer tokens, remembering recent ones: Ed25519 verification costs ~100 µs."""

    def __init__(self, keyring: Keyring, cache_size: int = 4096) -> None:
        self.keyring = keyring
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[Principal, int]] = OrderedDict()

    def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None:
            principal, exp = cached
            if exp > time.time():
                return principal
            del self._cache[token]
        claims = verify_with_rotation(self.keyring, token, "access")
        role = claims.get("role")
        if role not in ROLES or "exp" not in claims:
            raise InvalidToken("token has no valid role or expiry")
        principal = Principal(
            role=role, subject=claims.get("sub"), token_id=str(claims.get("jti", ""))
        )
        self._cache[token] = (principal, int(claims["exp"]))
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return principal
