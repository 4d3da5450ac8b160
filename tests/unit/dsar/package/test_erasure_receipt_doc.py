"""The erasure-receipt check docs/dsar-package.md gives requesters and integrators runs as
written (joserfc) and tells a receipt from every other token Lupa signs."""

from __future__ import annotations

import json
import re
import types
import warnings
from pathlib import Path
from typing import Any

import pytest
from joserfc.errors import JoseError, SecurityWarning

from services.dsar.domain.package import SystemAnswer
from services.dsar.service.erasure_receipts import sign_erasure_receipt
from shared.auth.kinds import DOWNLOAD_LINK
from shared.auth.tokens import issue_access_token, sign_claims
from shared.keys import Keyring
from tests.unit.dsar.package.samples import request

DOC = Path(__file__).resolve().parents[4] / "docs" / "dsar-package.md"
KEYRING = Keyring.generate().with_new_signing_key()
ISSUER = "http://127.0.0.1:8001"


def run(receipt_jws: str) -> dict[str, Any]:
    """The snippet as written, its one HTTP call answered with the JWKS the service serves."""
    section = DOC.read_text()[DOC.read_text().index("### Verifying a receipt") :]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "the receipt check is gone from docs/dsar-package.md"
    jwks = json.loads(json.dumps(KEYRING.jwks()))
    served = types.SimpleNamespace(json=lambda: jwks)
    namespace: dict[str, Any] = {
        "receipt_jws": receipt_jws,
        "httpx": types.SimpleNamespace(get=lambda url: served),
        "print": lambda *args: None,
    }
    code = found.group(1).replace("import httpx\n", "")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "EdDSA is deprecated", SecurityWarning)
        exec(compile(code, str(DOC), "exec"), namespace)
    return namespace["claims"]  # type: ignore[no-any-return]


def test_a_receipt_verifies_with_the_documented_check():
    answers = [SystemAnswer("books", "exempt", reason="Art. 17(3)(b)")]
    claims = run(sign_erasure_receipt(KEYRING, request("erasure"), answers, issuer=ISSUER))
    assert claims["systems"] == [{"name": "books", "result": "kept", "reason": "Art. 17(3)(b)"}]


def test_a_receipt_of_another_service_url_is_refused():
    receipt = sign_erasure_receipt(KEYRING, request("erasure"), [], issuer="https://elsewhere")
    with pytest.raises(JoseError):
        run(receipt)


@pytest.mark.parametrize(
    "other",
    [
        lambda: issue_access_token(KEYRING, "officer", None, 600),
        lambda: sign_claims(KEYRING, {"jti": "x", "iat": 1, "exp": 2**31}, DOWNLOAD_LINK),
    ],
)
def test_other_tokens_do_not_pass_for_a_receipt(other):
    with pytest.raises((ValueError, JoseError)):
        run(other())
