"""Every kind of token says what it is: its own header ``typ`` and ``aud``, judged by joserfc
with only the published JWKS, and no kind passes for another, in joserfc or in Lupa.

Tokens signed before kinds had their own header typ and aud (header ``typ: JWT``, no ``aud``)
still verify as receipts, checkpoints and links, which are evidence or sit in mail already
sent; an access token signed that way is refused (it is short-lived: reissue it).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import permutations

import pytest

from benchmarks.signing import legacy_sign, typical_receipt
from services.consent.domain.receipts import RECEIPT_TOKEN
from services.consent.service.confirmations import read_link
from services.consent.service.consents import CONFIRM_LINK
from services.consent.service.unsubscribe import UNSUBSCRIBE_LINK, UnsubscribeLink, mint_token
from services.consent.service.unsubscribe import read_token as read_unsubscribe_link
from shared.audit.checkpoints import CHECKPOINT_TOKEN, SignedHead, sign_checkpoint, signed_head
from shared.auth.kinds import ACCESS_TOKEN, METRICS_TOKEN, TokenKind
from shared.auth.tokens import (
    AccessTokenVerifier,
    InvalidToken,
    issue_access_token,
    issue_metrics_token,
    sign_claims,
    verify_claims,
)
from shared.errors import InvalidLink
from shared.keys import Keyring
from tests.jose_judge import Refused, decoded, judged

KEYRING = Keyring.generate().with_new_signing_key()
JWKS = json.loads(json.dumps(KEYRING.jwks()))  # as GET /.well-known/jwks.json serves it
NOW = int(time.time())
SUBJECT, EVENT = uuid.uuid4(), uuid.uuid4()

# What an integrator is told to expect of each kind (docs/security.md), written out here
# rather than read from the code under test.
DOCUMENTED = {
    "access": ("at+jwt", "urn:lupa:consent-api"),
    "receipt": ("consent-receipt+jwt", "urn:lupa:consent-receipt"),
    "confirm": ("confirm-link+jwt", "urn:lupa:link:confirm"),
    "unsubscribe": ("unsubscribe-link+jwt", "urn:lupa:link:unsubscribe"),
    "checkpoint": ("audit-checkpoint+jwt", "urn:lupa:audit-checkpoint"),
    "metrics": ("metrics+jwt", "urn:lupa:metrics"),
}
KINDS: dict[str, TokenKind] = {
    "access": ACCESS_TOKEN,
    "receipt": RECEIPT_TOKEN,
    "confirm": CONFIRM_LINK,
    "unsubscribe": UNSUBSCRIBE_LINK,
    "checkpoint": CHECKPOINT_TOKEN,
    "metrics": METRICS_TOKEN,
}
CONFIRM_CLAIMS = {
    "sub": str(SUBJECT),
    "purpose": "newsletter",
    "channel": "email",
    "event": str(EVENT),
    "iat": NOW,
    "exp": NOW + 600,
}
LEGACY_CLAIM = {
    "access": "access",
    "receipt": "consent-receipt",
    "confirm": "confirm",
    "unsubscribe": "unsubscribe",
    "checkpoint": "audit-checkpoint",
}
LEGACY_CLAIMS: dict[str, dict[str, object]] = {
    "access": {"role": "admin", "iat": NOW, "exp": NOW + 600, "jti": "00ff"},
    "receipt": typical_receipt(),
    "confirm": CONFIRM_CLAIMS,
    "unsubscribe": {
        "sub": str(SUBJECT),
        "purpose": "newsletter",
        "channel": "email",
        "iat": NOW,
        "exp": NOW + 600,
        "jti": "00ff",
    },
    "checkpoint": {"service": "consent", "seq": 100, "head": "ab" * 32, "iat": NOW},
}

# Each kind as the code that hands it out signs it.
MINTED: dict[str, Callable[[], str]] = {
    "access": lambda: issue_access_token(KEYRING, "admin", None, 600),
    "receipt": lambda: sign_claims(KEYRING, typical_receipt(), RECEIPT_TOKEN),
    "confirm": lambda: sign_claims(KEYRING, CONFIRM_CLAIMS, CONFIRM_LINK),
    "unsubscribe": lambda: mint_token(
        KEYRING, UnsubscribeLink(SUBJECT, "newsletter", "email"), datetime.now(UTC)
    ),
    "checkpoint": lambda: sign_checkpoint(KEYRING, "consent", 100, bytes(32)),
    "metrics": lambda: issue_metrics_token(KEYRING, 600),
}


def legacy(name: str) -> str:
    """The kind as Lupa signed it before: header typ JWT, no aud, the kind in the claim."""
    return legacy_sign(KEYRING, LEGACY_CLAIMS[name], LEGACY_CLAIM[name])


@pytest.mark.parametrize("name", DOCUMENTED)
def test_joserfc_reads_each_kind_with_its_own_header_typ_and_audience(name):
    typ, aud = DOCUMENTED[name]
    token = MINTED[name]()
    claims = judged(token, JWKS, typ, aud)
    assert claims["aud"] == aud and claims["iss"] == "lupa"
    assert decoded(token, JWKS).header == {
        "alg": "EdDSA",
        "kid": KEYRING.active_signing.kid,
        "typ": typ,
    }


@pytest.mark.parametrize(("name", "expected"), list(permutations(DOCUMENTED, 2)))
def test_no_kind_passes_for_another_in_joserfc_or_in_lupa(name, expected):
    token = MINTED[name]()
    typ, aud = DOCUMENTED[expected]
    with pytest.raises(Refused, match="header typ"):
        judged(token, JWKS, typ, aud)
    # Even a judge that looked only at aud would refuse it.
    with pytest.raises(Refused, match="aud"):
        judged(token, JWKS, DOCUMENTED[name][0], aud)
    with pytest.raises(InvalidToken, match="another use"):
        verify_claims(KEYRING, token, KINDS[expected])


def test_a_receipt_built_the_old_way_still_verifies_as_a_receipt():
    old = legacy("receipt")
    header = decoded(old, JWKS).header
    assert header["typ"] == "JWT" and "aud" not in decoded(old, JWKS).claims
    claims = verify_claims(KEYRING, old, RECEIPT_TOKEN)
    assert claims["typ"] == "consent-receipt"
    assert claims["consentReceiptID"] == LEGACY_CLAIMS["receipt"]["consentReceiptID"]


def test_a_receipt_built_the_old_way_and_signed_before_a_rotation_still_verifies():
    before = Keyring.generate()
    old = legacy_sign(before, typical_receipt(), "consent-receipt")
    assert verify_claims(before.with_new_signing_key(), old, RECEIPT_TOKEN)["iss"] == "lupa"


def test_a_receipt_built_the_old_way_is_no_access_token_and_no_link():
    old = legacy("receipt")
    with pytest.raises(InvalidToken):
        AccessTokenVerifier(KEYRING).verify(old)
    with pytest.raises(InvalidLink):
        read_link(KEYRING, old)
    with pytest.raises(InvalidLink):
        read_unsubscribe_link(KEYRING, old)


@pytest.mark.parametrize("name", ["confirm", "unsubscribe", "checkpoint", "access"])
def test_an_old_token_of_another_kind_is_no_receipt(name):
    with pytest.raises(InvalidToken, match="another use"):
        verify_claims(KEYRING, legacy(name), RECEIPT_TOKEN)


def test_links_and_checkpoints_signed_the_old_way_still_do_their_job():
    assert read_link(KEYRING, legacy("confirm")).event_id == EVENT
    assert read_unsubscribe_link(KEYRING, legacy("unsubscribe")) == UnsubscribeLink(
        SUBJECT, "newsletter", "email"
    )
    assert signed_head(KEYRING, legacy("checkpoint")) == SignedHead("consent", 100, b"\xab" * 32)


def test_an_access_token_signed_the_old_way_is_refused():
    with pytest.raises(InvalidToken, match="another use"):
        AccessTokenVerifier(KEYRING).verify(legacy("access"))
    assert AccessTokenVerifier(KEYRING).verify(MINTED["access"]()).role == "admin"


def test_a_link_receipt_or_metrics_token_is_refused_as_an_access_token():
    verifier = AccessTokenVerifier(KEYRING)
    for name in ("receipt", "confirm", "unsubscribe", "checkpoint", "metrics"):
        with pytest.raises(InvalidToken, match="another use"):
            verifier.verify(MINTED[name]())
