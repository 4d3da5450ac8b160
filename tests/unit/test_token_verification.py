"""``verify_claims`` accepts and refuses a token signed the old way exactly as it did when it
read every token twice, and a token of today's format for the same reasons.

It reads the kid from the header segment alone and leaves the whole token to
``jwt.decode``; the reason a refusal gives (shown by ``lupa audit verify``, and telling an
expired link from a forged one) must stay the same for every kind of broken token. The old
way (header ``typ: JWT``, no ``aud``) is still accepted for confirmation links, which sit in
mail already sent.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import jwt
import pytest

from benchmarks.signing import legacy_sign, old_verify
from services.consent.service.consents import CONFIRM_LINK
from shared.auth.kinds import ACCESS_TOKEN
from shared.auth.tokens import ISSUER, InvalidToken, sign_claims, verify_claims
from shared.keys import Keyring, b64u, unb64u

KEYRING = Keyring.generate().with_new_signing_key()
KID = KEYRING.active_signing.kid
NOW = int(time.time())


def outcome(verify: Any, token: str, kind: Any = "confirm") -> tuple[str, Any]:
    try:
        return "accepted", verify(KEYRING, token, kind)
    except InvalidToken as exc:
        return "refused", str(exc)


def today(token: str) -> tuple[str, Any]:
    return outcome(verify_claims, token, CONFIRM_LINK)


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
    "signed by the older key": legacy_sign(
        replace(KEYRING, signing=KEYRING.signing[:1]), {"sub": "s", "iat": NOW}, "confirm"
    ),
    "expired": legacy_sign(KEYRING, {"sub": "s", "iat": 1, "exp": 2}, "confirm"),
    "not yet valid": legacy_sign(KEYRING, {"iat": NOW, "nbf": NOW + 3600}, "confirm"),
    "for another use": legacy_sign(KEYRING, {"iat": NOW}, "access"),
    "another issuer": legacy_sign(KEYRING, {"iss": "else", "iat": NOW}, "confirm"),
    "no iat": legacy_sign(KEYRING, {"sub": "s"}, "confirm"),
    "from another keyring": legacy_sign(Keyring.generate(), {"iat": NOW}, "confirm"),
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
def test_every_token_signed_the_old_way_is_accepted_or_refused_as_before_for_the_same_reason(
    name,
):
    token = TOKENS[name]
    assert today(token) == outcome(old_verify, token)


def test_the_battery_holds_both_outcomes():
    outcomes = {today(t)[0] for t in TOKENS.values()}
    assert outcomes == {"accepted", "refused"}
    assert today(TOKENS["expired"]) == ("refused", "ExpiredSignatureError")


def a_link(claims: dict[str, Any], keyring: Keyring = KEYRING) -> str:
    return sign_claims(keyring, claims, CONFIRM_LINK)


def with_header(token: str, header: dict[str, Any]) -> str:
    """The token's payload signed again (by our active key) under another header."""
    return signed(segment(header), token.split(".")[1])


def with_claims(token: str, change: dict[str, Any]) -> str:
    header, payload, _ = token.split(".")
    claims = {**json.loads(unb64u(payload)), **change}
    return signed(header, segment({k: v for k, v in claims.items() if v is not None}))


LINK = a_link({"sub": "s", "iat": NOW})
REFUSED_TODAY = {
    "expired": (a_link({"sub": "s", "iat": 1, "exp": 2}), "ExpiredSignatureError"),
    "not yet valid": (a_link({"iat": NOW, "nbf": NOW + 3600}), "ImmatureSignatureError"),
    "another issuer": (a_link({"iss": "else", "iat": NOW}), "InvalidIssuerError"),
    "no iat": (a_link({"sub": "s"}), "MissingRequiredClaimError"),
    "from another keyring": (a_link({"iat": NOW}, Keyring.generate()), "unknown signing key"),
    "an access token": (sign_claims(KEYRING, {"iat": NOW}, ACCESS_TOKEN), "another use"),
    "a link's header typ, an access token's aud": (
        with_claims(LINK, {"aud": ACCESS_TOKEN.audience}),
        "another use",
    ),
    "a link's header typ and aud, the access claim": (
        with_claims(LINK, {"typ": "access"}),
        "another use",
    ),
    "a link's header typ, no aud": (with_claims(LINK, {"aud": None}), "another use"),
    "a link's header typ, aud a list": (
        with_claims(LINK, {"aud": [CONFIRM_LINK.audience]}),
        "another use",
    ),
    "header typ JWT with today's aud": (
        with_header(LINK, {"alg": "EdDSA", "kid": KID, "typ": "JWT"}),
        "another use",
    ),
    "no header typ": (with_header(LINK, {"alg": "EdDSA", "kid": KID}), "another use"),
    "an access token's header typ": (
        with_header(LINK, {"alg": "EdDSA", "kid": KID, "typ": "at+jwt"}),
        "another use",
    ),
}


def test_a_link_of_todays_format_is_accepted_whichever_way_its_media_type_is_written():
    assert today(LINK)[1]["sub"] == "s"
    for typ in ("confirm-link+jwt", "application/confirm-link+jwt", "Confirm-Link+JWT"):
        assert today(with_header(LINK, {"alg": "EdDSA", "kid": KID, "typ": typ}))[0] == "accepted"


@pytest.mark.parametrize("name", REFUSED_TODAY)
def test_a_token_of_todays_format_is_refused_for_the_reason_it_fails(name):
    token, reason = REFUSED_TODAY[name]
    verdict, why = today(token)
    assert verdict == "refused" and reason in why


def test_a_token_naming_a_key_we_hold_is_read_once(monkeypatch):
    def second_reading(token: str) -> None:
        raise AssertionError("the header was read a second time")

    monkeypatch.setattr(jwt, "get_unverified_header", second_reading)
    assert verify_claims(KEYRING, GOOD, CONFIRM_LINK)["sub"] == "s"
    assert verify_claims(KEYRING, LINK, CONFIRM_LINK)["sub"] == "s"
