"""The consent service with and without its connector configured, and a signer independent of Lupa's
(the ``standardwebhooks`` package), so a job is signed as any other sender would sign it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from standardwebhooks.webhooks import Webhook

from shared.keys import Keyring
from shared.settings import Settings
from tests.openapi_judge import JudgedClient, load_document


@pytest.fixture(scope="session")
def connector(consent: JudgedClient) -> JudgedClient:
    """The consent service; the suite's app has ``connector_secret`` configured."""
    return consent


@pytest.fixture(scope="session")
async def unconfigured(consent_settings: Settings, keyring: Keyring) -> AsyncIterator[JudgedClient]:
    """The consent service without a connector secret, judged against its OpenAPI document."""
    from services.consent.app import create_app

    app: Litestar = create_app(consent_settings, keyring=keyring)
    async with JudgedClient(app=app, base_url="http://testserver.local") as client:
        client.document = await load_document(client)
        yield client


def job_body(action: str, external_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """A connector job as the DSAR service sends it, with fresh job and request ids."""
    return {
        "job": f"job-{uuid.uuid4()}",
        "request": f"req-{uuid.uuid4()}",
        "action": action,
        "identity": {"external_id": external_id, "email": None, "phone": None},
        "callback_url": "http://127.0.0.1:9/callback",
        **extra,
    }


def signed(
    secret: str, body: dict[str, Any], *, age: timedelta = timedelta()
) -> tuple[bytes, dict[str, str]]:
    """``body`` as bytes with its Standard Webhooks headers, signed ``age`` ago."""
    raw = json.dumps(body)
    at = datetime.now(UTC) - age
    signature = Webhook(secret).sign(body["job"], at, raw)
    headers = {
        "webhook-id": body["job"],
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    return raw.encode(), headers


async def send(client: Any, secret: str, body: dict[str, Any], **options: Any) -> Any:
    raw, headers = signed(secret, body, **options)
    return await client.post("/v1/connector", content=raw, headers=headers)


async def run(client: Any, secret: str, body: dict[str, Any]) -> dict[str, Any]:
    """Send a job that must be answered 200; its answer."""
    resp = await send(client, secret, body)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]
