"""An independent judge of Lupa's tokens: joserfc (not PyJWT, which Lupa signs with), given
only the published JWKS, does what docs/security.md tells an integrator to do.

It checks the signature, ``iss``, the header ``typ`` and the ``aud`` of the kind expected, and
refuses anything else with ``Refused``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from joserfc import errors, jwt
from joserfc.jwk import KeySet

ISSUER = "lupa"


class Refused(Exception):
    """joserfc, or the header typ, says this is no token of the kind expected."""


def decoded(token: str, jwks: Mapping[str, Any]) -> jwt.Token:
    """The token's header and claims once joserfc has checked its signature."""
    with warnings.catch_warnings():
        # Lupa signs with alg "EdDSA" (Ed25519); joserfc warns that RFC 9864 prefers the name
        # "Ed25519" for it. The warning is about the algorithm's name, not these tokens.
        warnings.filterwarnings("ignore", "EdDSA is deprecated", errors.SecurityWarning)
        try:
            return jwt.decode(token, KeySet.import_key_set(dict(jwks)), algorithms=["EdDSA"])
        except errors.JoseError as exc:
            raise Refused(f"signature: {exc}") from None


def judged(token: str, jwks: Mapping[str, Any], typ: str, aud: str) -> dict[str, Any]:
    """The claims of a token of header ``typ`` and audience ``aud``; ``Refused`` otherwise."""
    found = decoded(token, jwks)
    if found.header.get("typ") != typ:
        raise Refused(f"header typ is {found.header.get('typ')!r}, not {typ!r}")
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": aud}
    )
    try:
        registry.validate(found.claims)
    except errors.JoseError as exc:
        raise Refused(f"claims: {exc}") from None
    return dict(found.claims)
