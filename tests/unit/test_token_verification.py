"""``verify_claims`` accepts and refuses exactly what it did when it read every token twice.

It now reads the kid from the header segment alone and leaves the whole token to
``jwt.decode``; the reason a refusal gives (shown by ``lupa audit verify``, and telling an
expired link from a forged one) must stay the same for every kind of broken token.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import jwt
import pytest

from benchmarks.signing import old_verify
from shared.auth.tokens import ISSUER, InvalidToken, sign_claims, verify_claims
from shared.keys import Keyring, b64u

KEYRING = Keyring.generate().with_new_signing_key()
KID = KEYRING.active_signing.kid
NOW = int(time.time())


def outcome(verify: Any, token: str) -> tuple[str, Any]:
    try:
        return "accepted", verify(KEYRING, token, "confirm")
    except InvalidToken as exc:
        return "refused", str(exc)


def segment(value: Any) -> str:
    return b64u(json.dumps(value, separators=(",", ":")).encode())


def signed(header: str, payload: str) -> str:
    signature = KEYRING.active_signing.private_key.sign(f"{header}.{payload}".encode())
    return f"{header}.{payload}.{b64u(signature)}"


GOOD_HEADER = segment({"alg": "EdDSA", "kid": KID, "typ": "JWT"})
GOOD_PAYLOAD = segment({"iss": ISSUER, "typ": "confirm", "sub": "s", "iat": NOW})
GOOD = signed(GOOD_HEADER, GOOD_PAYLOAD)
UNKNOWN_KID = segment({"alg": "EdDSA", "kid": "not-ours", "typ": "JWT"})

TOKENS = {
    "good": GOOD,
    "signed by the older key": sign_claims(
        replace(KEYRING, signing=KEYRING.signing[:1]), {"sub": "s", "iat": NOW}, "confirm"
    ),
    "expired": sign_claims(KEYRING, {"sub": "s", "iat": 1, "exp": 2}, "confirm"),
    "not yet valid": sign_claims(KEYRING, {"iat": NOW, "nbf": NOW + 3600}, "confirm"),
    "for another use": sign_claims(KEYRING, {"iat": NOW}, "access"),
    "another issuer": sign_claims(KEYRING, {"iss": "else", "iat": NOW}, "confirm"),
    "no iat": sign_claims(KEYRING, {"sub": "s"}, "confirm"),
    "from another keyring": sign_claims(Keyring.generate(), {"iat": NOW}, "confirm"),
    "header not base64": f"!!!!.{GOOD_PAYLOAD}.sig",
    "header not json": signed(b64u(b"{nope"), GOOD_PAYLOAD),
    "header a json list": signed(segment([KID]), GOOD_PAYLOAD),
    "header nested too deep": signed(b64u(b"[" * 100_000), GOOD_PAYLOAD),
    "header with padding": GOOD.replace(GOOD_HEADER, GOOD_HEADER + "=" * (-len(GOOD_HEADER) % 4)),
    "kid a number": signed(segment({"alg": "EdDSA", "kid": 7, "typ": "JWT"}), GOOD_PAYLOAD),
    "kid missing": signed(segment({"alg": "EdDSA", "typ": "JWT"}), GOOD_PAYLOAD),
    "kid unknown": signed(UNKNOWN_KID, GOOD_PAYLOAD),
    "kid unknown, payload broken": f"{UNKNOWN_KID}.!!!!.sig",
    "payload broken": f"{GOOD_HEADER}.!!!!.{GOOD.rsplit('.', 1)[1]}",
    "payload not json": signed(GOOD_HEADER, b64u(b"nope")),
    "payload a json list": signed(GOOD_HEADER, segment(["iat"])),
    "signature broken": GOOD[:-4] + "!!!!",
    "signature of other bytes": GOOD_HEADER
    + "."
    + GOOD_PAYLOAD
    + "."
    + GOOD.rsplit(".", 1)[1][::-1],
    "two segments": f"{GOOD_HEADER}.{GOOD_PAYLOAD}",
    "one segment": GOOD_HEADER,
    "empty": "",
    "alg none": f"{segment({'alg': 'none', 'kid': KID, 'typ': 'JWT'})}.{GOOD_PAYLOAD}.",
    "alg HS256": signed(segment({"alg": "HS256", "kid": KID, "typ": "JWT"}), GOOD_PAYLOAD),
    "crit header": signed(segment({"alg": "EdDSA", "crit": ["x"], "kid": KID}), GOOD_PAYLOAD),
    "b64 false": signed(
        segment({"alg": "EdDSA", "b64": False, "crit": ["b64"], "kid": KID}), GOOD_PAYLOAD
    ),
    "non-ascii": "é." + GOOD,
}


@pytest.mark.parametrize("name", TOKENS)
def test_every_token_is_accepted_or_refused_as_before_and_for_the_same_reason(name):
    token = TOKENS[name]
    assert outcome(verify_claims, token) == outcome(old_verify, token)


def test_the_battery_holds_both_outcomes():
    outcomes = {outcome(verify_claims, t)[0] for t in TOKENS.values()}
    assert outcomes == {"accepted", "refused"}
    assert outcome(verify_claims, TOKENS["expired"]) == ("refused", "ExpiredSignatureError")


def test_a_token_naming_a_key_we_hold_is_read_once(monkeypatch):
    def second_reading(token: str) -> None:
        raise AssertionError("the header was read a second time")

    monkeypatch.setattr(jwt, "get_unverified_header", second_reading)
    assert verify_claims(KEYRING, GOOD, "confirm")["sub"] == "s"
