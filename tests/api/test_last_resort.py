"""An exception that escapes every ASGI layer is a 500 problem and one log line without its
message: nothing reaches the server to be logged with a traceback that might quote a customer."""

from __future__ import annotations

import dataclasses
from typing import Any

import structlog
from litestar.testing import AsyncTestClient
from structlog.testing import capture_logs

from shared.settings import Settings


def _app(consent_settings: Settings, keyring: Any, connector_secret: str) -> Any:
    from services.consent.app import create_app
    from services.consent.settings import ConsentSettings

    return create_app(
        dataclasses.replace(consent_settings),
        keyring=keyring,
        consent=ConsentSettings(connector_secret=connector_secret),
    )


async def test_a_failure_below_the_request_log_is_a_500_problem_logged_without_its_message(
    consent_settings, keyring, connector_secret, auth
):
    app = _app(consent_settings, keyring, connector_secret)

    async def broken(*_: Any) -> None:
        raise RuntimeError("database said no for cust-7f3a")

    # LastResort > BodyReadTimeout > RequestLog > the rest: the layer under the log raises.
    app.asgi_handler.app.app.app = broken
    # raise_server_exceptions stays on: an exception reaching the client would fail the test.
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            failed = await client.get("/v1/purposes", headers=auth("admin"))
    assert failed.status_code == 500
    assert failed.headers["content-type"] == "application/problem+json"
    problem = failed.json()
    assert problem["type"] == "urn:lupa:problem:internal" and problem["status"] == 500
    assert problem["instance"] == f"urn:uuid:{problem['request_id']}"
    [logged] = [line for line in logs if line["event"] == "unhandled_exception"]
    assert logged["exc_type"] == "RuntimeError" and logged["frames"]
    assert "cust-7f3a" not in repr(logs) and "database said no" not in repr(logs)
    assert "cust-7f3a" not in failed.text


async def test_a_failure_after_the_answer_began_leaves_the_answer_as_sent(
    consent_settings, keyring, connector_secret
):
    app = _app(consent_settings, keyring, connector_secret)

    async def half_answered(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("lost mid-answer for cust-7f3a")

    app.asgi_handler.app.app.app = half_answered
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
            answer = await client.get("/health/live")
    assert answer.status_code == 200  # no second start was sent over the first
    assert [line["exc_type"] for line in logs if line["event"] == "unhandled_exception"] == [
        "RuntimeError"
    ]
    assert "cust-7f3a" not in repr(logs)
