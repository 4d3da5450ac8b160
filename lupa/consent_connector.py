"""Joining the consent service to the DSAR service as its first connector, for ``lupa run``.

The two services share no tables: the DSAR service reaches the consent service through the
same signed connector protocol as any other system. The stack needs one shared secret for
that; ``lupa run`` keeps it in ``$LUPA_HOME/consent-connector.secret`` (made on first run,
readable by its owner only) unless ``LUPA_CONSENT_CONNECTOR_SECRET`` is set, hands it to the
consent service, and registers the connector with the DSAR service's own API once both are up.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from shared.audit.webhooks import new_secret
from shared.auth.tokens import issue_access_token
from shared.keys import Keyring

SECRET_ENV = "LUPA_CONSENT_CONNECTOR_SECRET"  # noqa: S105 (a variable name)
SECRET_FILE = "consent-connector.secret"  # noqa: S105 (a file name)
ACTIONS = ("access", "erasure", "rectification", "restriction", "lift_restriction", "objection")
CONNECTOR_NAME = "consent"
CONNECTOR_PATH = "/v1/connector"


def shared_secret(home: Path, env: Mapping[str, str] = os.environ) -> str:
    """The secret the consent service verifies jobs with and the DSAR service signs them with."""
    if env.get(SECRET_ENV):
        return env[SECRET_ENV]
    path = home / SECRET_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(new_secret() + "\n")
    return path.read_text().strip()


def register(keyring: Keyring, dsar_port: int, consent_port: int, secret: str) -> int:
    """``PUT /v1/connectors/consent`` on the running DSAR service; the HTTP status."""
    token = issue_access_token(keyring, "admin", None, 60)
    body = {
        "url": f"http://127.0.0.1:{consent_port}{CONNECTOR_PATH}",
        "secret": secret,
        "actions": list(ACTIONS),
    }
    put = urllib.request.Request(
        f"http://127.0.0.1:{dsar_port}/v1/connectors/{CONNECTOR_NAME}",
        method="PUT",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(put, timeout=10) as resp:  # noqa: S310
        return int(resp.status)
