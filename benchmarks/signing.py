"""``python -m benchmarks.signing [-n N] [--rounds R]``: what one consent receipt's signature costs.

Signs a typical receipt claim set (``receipt_claims``: ~20 claims with nested lists and
objects) N times the old way (``jwt.encode``, the kid's thumbprint recomputed per call, the
same header ``typ`` and ``aud``) and the new way (``sign_claims``: header segment cached per
key and kind, the compact JWS built directly), in alternating rounds of the same run, and
prints the best round's µs per signature for each, their ratio, and the bare Ed25519
signature over the same signing input as the floor. Then the same for verifying the receipt
(old: a receipt signed the old way, PyJWT reading the header, kids recomputed in a scan, then
``jwt.decode``; new: ``verify_claims``, which also checks the header typ and aud).
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from services.consent.domain.consents import NewEvent
from services.consent.domain.purposes import Purpose
from services.consent.domain.receipts import (
    RECEIPT_TOKEN,
    ControllerIdentity,
    ReceiptFacts,
    receipt_claims,
)
from shared.auth.kinds import TokenKind
from shared.auth.tokens import ISSUER, Claims, InvalidToken, sign_claims, verify_claims
from shared.keys import Keyring, jwk_thumbprint, public_jwk


def typical_receipt(
    title: str = "Newsletter mit Angeboten für Sie",
    validity_days: int | None = 730,
    occurred: datetime | None = None,
) -> dict[str, Any]:
    """The claims of one consent receipt, built by ``receipt_claims`` itself."""
    # A second in the past, so the receipt (issued 3 ms after) is never dated in the future:
    # near a second's end, ``now + 3 ms`` truncates to the next second and reads as immature.
    occurred = occurred or datetime.now(UTC) - timedelta(seconds=1)
    purpose = Purpose(
        key="newsletter",
        legal_basis="consent",
        title={"de": title},
        description={},
        channels=["email"],
        double_opt_in_channels=[],
        validity_days=validity_days,
        min_age=None,
        sale_or_sharing=False,
        current_version=3,
        min_accepted_version=1,
        created_at=occurred,
        updated_at=occurred,
    )
    event = NewEvent(
        purpose=purpose,
        version=3,
        channel="email",
        action="grant",
        state="granted",
        source="signup-page",
        actor="api",
        given_by="subject",
        collection_method="web-form",
        occurred_at=occurred,
    )
    facts = ReceiptFacts(
        receipt_id=uuid.uuid4(),
        subject_id=uuid.uuid4(),
        language="de",
        event_id=uuid.uuid4(),
        event=event,
        purpose_title=title,
    )
    controller = ControllerIdentity(
        "Beispiel GmbH", "datenschutz@example.org", "DE", "https://example.org/privacy"
    )
    return receipt_claims(facts, controller, occurred + timedelta(milliseconds=3))


def old_sign(keyring: Keyring, claims: dict[str, Any], kind: TokenKind = RECEIPT_TOKEN) -> str:
    """``sign_claims`` done by PyJWT, with the RFC 7638 thumbprint computed every call (the
    reference the signing tests hold the new code to, byte for byte)."""
    key = keyring.active_signing
    kid = jwk_thumbprint(public_jwk(key.private_key.public_key()))
    return jwt.encode(
        {"iss": ISSUER, "aud": kind.audience, "typ": kind.claim, **claims},
        key.private_key,
        algorithm="EdDSA",
        headers={"kid": kid, "typ": kind.header_typ},
    )


def legacy_sign(keyring: Keyring, claims: dict[str, Any], typ: str = "consent-receipt") -> str:
    """A token as Lupa signed every kind before each had its own header typ and aud: header
    ``typ: JWT``, no ``aud``, the kind named only by the private ``typ`` claim."""
    key = keyring.active_signing
    return jwt.encode(
        {"iss": ISSUER, "typ": typ, **claims},
        key.private_key,
        algorithm="EdDSA",
        headers={"kid": key.kid, "typ": "JWT"},
    )


def new_sign(keyring: Keyring, claims: dict[str, Any]) -> str:
    return sign_claims(keyring, claims, RECEIPT_TOKEN)


def old_verify(keyring: Keyring, token: str, typ: str = "consent-receipt") -> Claims:
    """``verify_claims`` as it was before kinds had their own header typ and aud: the header
    read by PyJWT, kids recomputed in a scan (the reference the verification tests hold the
    new code to for tokens signed the old way, refusal reasons included)."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        publics = (k.private_key.public_key() for k in keyring.signing)
        public = next((p for p in publics if jwk_thumbprint(public_jwk(p)) == str(kid)), None)
        if public is None:
            raise InvalidToken("unknown signing key")
        claims: Claims = jwt.decode(
            token,
            public,
            algorithms=["EdDSA"],
            issuer=ISSUER,
            options={"require": ["iss", "typ", "iat"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from None
    if claims.get("typ") != typ:
        raise InvalidToken("token is meant for another use")
    return claims


def new_verify(keyring: Keyring, token: str) -> Claims:
    return verify_claims(keyring, token, RECEIPT_TOKEN)


def per_call_us(call: Callable[[], object], n: int) -> float:
    call()  # warm: caches and imports, outside the clock
    started = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - started) / n * 1e6


def per_signature_us(sign: Callable[[Keyring, dict[str, Any]], str], n: int) -> float:
    keyring, claims = Keyring.generate(), typical_receipt()
    return per_call_us(lambda: sign(keyring, claims), n)


def per_verification_us(
    verify: Callable[[Keyring, str], Claims], sign: Callable[[Keyring, dict[str, Any]], str], n: int
) -> float:
    """``verify`` of a receipt ``sign`` made: the old verifier reads only the old format."""
    keyring = Keyring.generate().with_new_signing_key()  # after one rotation: two keys
    token = sign(keyring, typical_receipt())
    verify(keyring, token)  # a refusal would time the wrong path
    return per_call_us(lambda: verify(keyring, token), n)


def floor_us(n: int) -> float:
    keyring = Keyring.generate()
    signing_input = new_sign(keyring, typical_receipt()).rsplit(".", 1)[0].encode()
    key = keyring.active_signing.private_key
    return per_call_us(lambda: key.sign(signing_input), n)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.signing")
    parser.add_argument("-n", type=int, default=5_000, help="signatures per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of each")
    args = parser.parse_args()
    keyring, claims = Keyring.generate(), typical_receipt()
    assert old_sign(keyring, claims) == new_sign(keyring, claims), "outputs differ"
    old, new, floor, old_v, new_v = [], [], [], [], []
    for _ in range(args.rounds):
        old.append(per_signature_us(old_sign, args.n))
        new.append(per_signature_us(new_sign, args.n))
        floor.append(floor_us(args.n))
        old_v.append(per_verification_us(old_verify, legacy_sign, args.n // 5))
        new_v.append(per_verification_us(new_verify, new_sign, args.n // 5))
    size = len(new_sign(keyring, claims))
    claimed = f"{len(claims) + 3} claims (with iss, aud, typ), token {size} bytes"
    print(f"receipt: {claimed}; best of {args.rounds} x {args.n}")
    print(f"old (jwt.encode, kid recomputed): {min(old):7.1f} µs/signature")
    print(f"new (sign_claims, header cached): {min(new):7.1f} µs/signature")
    print(f"Ed25519 sign alone (the floor):   {min(floor):7.1f} µs/signature")
    print(f"new / old: {min(new) / min(old):.2f}x  ({min(old) / min(new):.2f}x faster)")
    print(f"verify old (header read twice):   {min(old_v):7.1f} µs/verification")
    print(f"verify new (verify_claims):       {min(new_v):7.1f} µs/verification")
    print(f"new / old: {min(new_v) / min(old_v):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
