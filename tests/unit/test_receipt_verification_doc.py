"""The receipt check docs/consent-ledger.md gives integrators runs as written (joserfc) and
does what it says: today's receipts and receipts built the old way verify, and nothing else
Lupa signs passes for a receipt."""

from __future__ import annotations

import json
import re
import time
import types
import warnings
from pathlib import Path
from typing import Any

import pytest
from joserfc.errors import JoseError, SecurityWarning

from benchmarks.signing import legacy_sign, typical_receipt
from services.consent.domain.receipts import RECEIPT_TOKEN
from services.consent.service.consents import CONFIRM_LINK
from shared.auth.tokens import issue_access_token, sign_claims
from shared.keys import Keyring

DOC = Path(__file__).resolve().parents[2] / "docs" / "consent-ledger.md"
KEYRING = Keyring.generate().with_new_signing_key()
NOW = int(time.time())


def snippet() -> str:
    text = DOC.read_text()
    section = text[text.index("Verify one with any JOSE library") :]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "the receipt check is gone from docs/consent-ledger.md"
    return found.group(1)


def run(receipt_jws: str) -> dict[str, Any]:
    """The snippet as written, its one HTTP call answered with the JWKS Lupa serves."""
    jwks = json.loads(json.dumps(KEYRING.jwks()))
    served = types.SimpleNamespace(json=lambda: jwks)
    httpx = types.SimpleNamespace(get=lambda url: served)
    namespace: dict[str, Any] = {"receipt_jws": receipt_jws, "httpx": httpx}
    code = snippet().replace("import httpx\n", "")  # answered here instead of by a server
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "EdDSA is deprecated", SecurityWarning)
        exec(compile(code, str(DOC), "exec"), namespace)
    return namespace["claims"]


def test_a_receipt_of_today_verifies():
    receipt = typical_receipt()
    claims = run(sign_claims(KEYRING, receipt, RECEIPT_TOKEN))
    assert claims["consentReceiptID"] == receipt["consentReceiptID"]
    assert claims["aud"] == "urn:lupa:consent-receipt"


def test_a_receipt_built_the_old_way_verifies():
    receipt = typical_receipt()
    claims = run(legacy_sign(KEYRING, receipt, "consent-receipt"))
    assert claims["consentReceiptID"] == receipt["consentReceiptID"] and "aud" not in claims


@pytest.mark.parametrize(
    "token",
    [
        issue_access_token(KEYRING, "admin", None, 600),
        sign_claims(KEYRING, {"sub": "s", "iat": NOW, "exp": NOW + 600}, CONFIRM_LINK),
        legacy_sign(KEYRING, {"sub": "s", "iat": NOW, "exp": NOW + 600}, "unsubscribe"),
        legacy_sign(KEYRING, {"role": "admin", "iat": NOW, "exp": NOW + 600}, "access"),
        sign_claims(Keyring.generate(), typical_receipt(), RECEIPT_TOKEN),
    ],
    ids=["access token", "confirm link", "old unsubscribe link", "old access token", "forged"],
)
def test_nothing_else_passes_for_a_receipt(token):
    with pytest.raises((JoseError, ValueError)):  # joserfc's refusal or the snippet's own
        run(token)
