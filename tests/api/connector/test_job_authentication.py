"""A job is run only when its Standard Webhooks signature holds, and only when configured."""

from __future__ import annotations

from datetime import timedelta

from shared.audit.webhooks import new_secret
from tests.api.check.helpers import check, granted
from tests.api.connector.fixtures import job_body, run, send


async def test_a_job_signed_with_another_secret_is_refused_and_changes_nothing(
    connector, connector_secret, auth, new_id
):
    key, ext, _ = await granted(connector, auth, new_id)
    resp = await send(connector, new_secret(), job_body("restriction", ext))
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert (await check(connector, auth, ext, key))["allowed"] is True


async def test_a_stale_signature_is_refused_and_changes_nothing(
    connector, connector_secret, auth, new_id
):
    key, ext, _ = await granted(connector, auth, new_id)
    resp = await send(
        connector, connector_secret, job_body("restriction", ext), age=timedelta(hours=1)
    )
    assert resp.status_code == 401
    assert (await check(connector, auth, ext, key))["allowed"] is True


async def test_an_unsigned_job_is_refused(connector, new_id):
    resp = await connector.post("/v1/connector", json=job_body("access", new_id("cust")))
    assert resp.status_code == 401


async def test_without_a_secret_the_connector_is_not_configured(
    unconfigured, connector_secret, new_id
):
    resp = await send(unconfigured, connector_secret, job_body("access", new_id("cust")))
    assert resp.status_code == 503
    assert "not configured" in resp.json()["detail"]


async def test_an_unknown_action_is_invalid_input(connector, connector_secret, auth, new_id):
    _, ext, _ = await granted(connector, auth, new_id)
    resp = await send(connector, connector_secret, job_body("sell", ext))
    assert resp.status_code == 422


async def test_an_unknown_subject_is_not_found(connector, connector_secret, new_id):
    answer = await run(connector, connector_secret, job_body("access", new_id("nobody")))
    assert answer == {"status": "not_found"}
