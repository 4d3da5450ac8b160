"""Signed tokens read exactly as PyJWT wrote them, verify elsewhere, and refuse any tampering.

``sign_claims`` builds the compact JWS itself (the header computed once per key and kind);
every token it hands out must be the very bytes ``jwt.encode`` produces with the kind's header
``typ`` and ``aud``, so any JWT library reads receipts, links and checkpoints as PyJWT would.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.exceptions import InvalidSignature

from benchmarks.signing import old_sign, typical_receipt
from services.consent.domain.receipts import RECEIPT_TOKEN
from services.consent.service.consents import CONFIRM_LINK
from shared.audit.checkpoints import CHECKPOINT_TOKEN
from shared.auth.kinds import ACCESS_TOKEN, TokenKind
from shared.auth.tokens import ISSUER, InvalidToken, sign_claims, verify_claims
from shared.keys import Keyring, b64u, jwk_thumbprint, public_jwk, unb64u

KEYRING = Keyring.generate().with_new_signing_key()  # two keys: the newest signs
OCCURRED = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=UTC)
X = TokenKind("x", "x+jwt", "urn:example:x", accepts_legacy=False)
RANDOM = TokenKind("random", "application/random+jwt", "urn:example:random", accepts_legacy=True)


def a_receipt(title: str = "Newsletter", validity_days: int | None = 365) -> dict[str, Any]:
    return typical_receipt(title, validity_days, OCCURRED)


def random_json(rng: random.Random, depth: int = 0) -> Any:
    """A JSON value of every kind Lupa signs, with awkward strings among them."""
    kinds = ["str", "int", "bool", "none", "float"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "str":
        return rng.choice(["", "plain", "für Ärzte", "日本語", '"quoted"\\', "\n\t\u2028", "😀"])
    if kind == "int":
        return rng.choice([0, -1, 2**31, 2**63 + 1, rng.randint(-(10**6), 10**6)])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "none":
        return None
    if kind == "float":
        return rng.choice([0.1, 1e-7, 1e21, -2.5])
    if kind == "list":
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {f"k{i}é": random_json(rng, depth + 1) for i in range(rng.randint(0, 4))}


VARIED_CLAIMS: list[tuple[TokenKind, dict[str, Any]]] = [
    (RECEIPT_TOKEN, a_receipt()),
    (RECEIPT_TOKEN, a_receipt(title="Angebote für Sie — «spécial»", validity_days=None)),
    (ACCESS_TOKEN, {"role": "admin", "iat": 1, "exp": 2, "jti": "ab12"}),
    (ACCESS_TOKEN, {"role": "portal", "iat": 1, "exp": 2, "jti": "ab12", "sub": "cust-1"}),
    (CONFIRM_LINK, {"sub": str(uuid.uuid4()), "purpose": "p", "channel": "sms", "iat": 1}),
    (CHECKPOINT_TOKEN, {"service": "consent", "seq": 42, "head": "00ff", "iat": 7}),
    (X, {}),
    (X, {"typ": "overridden", "iss": "someone-else", "empty": [], "nested": {"a": {}}}),
    (X, {"iat": OCCURRED, "exp": datetime(2030, 1, 1), "nbf": OCCURRED, "at": "iso"}),
    *(
        (RANDOM, {f"c{i}": random_json(random.Random(seed)) for i in range(20)})
        for seed in range(40)
    ),
]


@pytest.mark.parametrize(("kind", "claims"), VARIED_CLAIMS)
def test_a_signed_token_is_byte_for_byte_what_pyjwt_wrote(kind, claims):
    assert sign_claims(KEYRING, claims, kind) == old_sign(KEYRING, claims, kind)


def test_the_header_of_each_kind_and_key_is_computed_once_and_kept_apart():
    kinds = (ACCESS_TOKEN, RECEIPT_TOKEN, CONFIRM_LINK, CHECKPOINT_TOKEN)
    for key in KEYRING.signing:
        segments = {key.jws_header_segment(kind.header_typ) for kind in kinds}
        assert len(segments) == len(kinds)
        assert key.jws_header_segment(ACCESS_TOKEN.header_typ) is key.jws_header_segment(
            ACCESS_TOKEN.header_typ
        )
    older, newer = KEYRING.signing
    typ = RECEIPT_TOKEN.header_typ
    assert older.jws_header_segment(typ) != newer.jws_header_segment(typ)


def test_an_issuer_that_is_not_a_string_is_refused_as_pyjwt_refused_it():
    with pytest.raises(TypeError, match="Issuer"):
        old_sign(KEYRING, {"iss": 1}, X)
    with pytest.raises(TypeError, match="Issuer"):
        sign_claims(KEYRING, {"iss": 1}, X)


def test_a_claim_json_cannot_carry_is_refused_as_pyjwt_refused_it():
    with pytest.raises(TypeError):
        old_sign(KEYRING, {"when": OCCURRED}, X)
    with pytest.raises(TypeError):
        sign_claims(KEYRING, {"when": OCCURRED}, X)


def test_signing_leaves_the_callers_claims_as_they_were():
    claims = {"iat": OCCURRED, "sub": "s"}
    sign_claims(KEYRING, claims, X)
    assert claims == {"iat": OCCURRED, "sub": "s"}


def test_a_receipt_verifies_with_pyjwt_given_only_the_published_jwk():
    receipt = a_receipt()
    token = sign_claims(KEYRING, receipt, RECEIPT_TOKEN)
    published = {k["kid"]: k for k in json.loads(json.dumps(KEYRING.jwks()))["keys"]}
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(
        token,
        jwt.PyJWK(published[kid]),
        algorithms=["EdDSA"],
        issuer=ISSUER,
        audience="urn:lupa:consent-receipt",
    )
    assert claims == {
        "iss": ISSUER,
        "aud": "urn:lupa:consent-receipt",
        "typ": "consent-receipt",
        **receipt,
    }


def test_the_signature_checks_out_over_the_signing_input_with_cryptography_alone():
    token = sign_claims(KEYRING, a_receipt(), RECEIPT_TOKEN)
    header, payload, signature = token.split(".")
    assert json.loads(unb64u(header)) == {
        "alg": "EdDSA",
        "kid": jwk_thumbprint(public_jwk(KEYRING.active_signing.private_key.public_key())),
        "typ": "consent-receipt+jwt",
    }
    public_key = KEYRING.active_signing.private_key.public_key()
    public_key.verify(unb64u(signature), f"{header}.{payload}".encode())  # raises if not
    with pytest.raises(InvalidSignature):
        public_key.verify(unb64u(signature), f"{header}.{payload}x".encode())


def tampered_payload(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(unb64u(payload))
    claims["sub"] = "someone-else"
    forged = b64u(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{forged}.{signature}"


def tampered_signature(token: str) -> str:
    signing_input, signature = token.rsplit(".", 1)
    raw = bytearray(unb64u(signature))
    raw[0] ^= 1
    return f"{signing_input}.{b64u(bytes(raw))}"


def signed_by_the_older_key_under_the_newer_kid(token: str) -> str:
    header, payload, _ = token.split(".")
    signature = KEYRING.signing[0].private_key.sign(f"{header}.{payload}".encode())
    return f"{header}.{payload}.{b64u(signature)}"


def unsigned(token: str) -> str:
    _, payload, _ = token.split(".")
    header = {"alg": "none", "kid": KEYRING.active_signing.kid, "typ": "JWT"}
    return f"{b64u(json.dumps(header).encode())}.{payload}."


@pytest.mark.parametrize(
    "tamper",
    [tampered_payload, tampered_signature, signed_by_the_older_key_under_the_newer_kid, unsigned],
)
def test_a_tampered_token_is_refused(tamper):
    token = sign_claims(KEYRING, {"sub": "s", "iat": 1}, CONFIRM_LINK)
    assert verify_claims(KEYRING, token, CONFIRM_LINK)["sub"] == "s"
    with pytest.raises(InvalidToken):
        verify_claims(KEYRING, tamper(token), CONFIRM_LINK)


def test_a_token_from_another_keyring_or_for_another_use_is_refused():
    stranger = sign_claims(Keyring.generate(), {"sub": "s", "iat": 1}, CONFIRM_LINK)
    with pytest.raises(InvalidToken):
        verify_claims(KEYRING, stranger, CONFIRM_LINK)
    with pytest.raises(InvalidToken):
        verify_claims(KEYRING, sign_claims(KEYRING, {"iat": 1}, ACCESS_TOKEN), CONFIRM_LINK)


def test_what_the_older_key_signed_still_verifies():
    older = Keyring.generate()
    token = sign_claims(older, {"sub": "s", "iat": 1}, CONFIRM_LINK)
    rotated = older.with_new_signing_key()
    assert verify_claims(rotated, token, CONFIRM_LINK)["sub"] == "s"


def test_a_keys_cached_kid_and_jwk_are_what_they_were_computed_as():
    for key in KEYRING.signing:
        public = key.private_key.public_key()
        assert key.kid == jwk_thumbprint(public_jwk(public))
        assert key.jwk() == {**public_jwk(public), "kid": key.kid, "alg": "EdDSA", "use": "sig"}
        assert KEYRING.signing_key(key.kid) is key
    assert KEYRING.signing_key("no-such-kid") is None
