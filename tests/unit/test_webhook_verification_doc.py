"""The webhook receiver docs/audit.md gives integrators runs as written (the standardwebhooks
library): a delivery Lupa signed is stored and answered 204, a tampered or foreign one 400."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from shared.audit.webhooks import new_secret, signed_headers

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit.md"
BODY = b'{"specversion":"1.0","id":"e1","type":"fi.lupa.consent.consent.withdrawn"}'


def receiver(secret: str) -> tuple[Any, list[Any]]:
    """The doc's handler, with its secret placeholder filled and ``store`` collecting."""
    text = DOC.read_text()
    section = text[text.index("### Checking a webhook signature") :]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "the webhook check is gone from docs/audit.md"
    code = found.group(1).replace('"whsec_..."', repr(secret))
    stored: list[Any] = []
    namespace: dict[str, Any] = {"store": stored.append}
    exec(compile(code, str(DOC), "exec"), namespace)
    return namespace["handle"], stored


def test_a_delivery_lupa_signed_is_stored():
    secret = new_secret()
    handle, stored = receiver(secret)
    headers = signed_headers(secret, "e1", BODY, timestamp=int(time.time()))
    assert handle(BODY, headers) == 204
    assert stored == [
        {"specversion": "1.0", "id": "e1", "type": "fi.lupa.consent.consent.withdrawn"}
    ]


def test_a_tampered_foreign_or_stale_delivery_is_refused():
    secret = new_secret()
    handle, stored = receiver(secret)
    now = int(time.time())
    assert (
        handle(BODY.replace(b"withdrawn", b"granted"), signed_headers(secret, "e1", BODY, now))
        == 400
    )
    assert handle(BODY, signed_headers(new_secret(), "e1", BODY, now)) == 400
    assert handle(BODY, signed_headers(secret, "e1", BODY, now - 3600)) == 400
    assert stored == []
