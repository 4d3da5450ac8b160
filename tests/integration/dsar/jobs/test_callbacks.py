"""A connector that answers 202 finishes the job later by POSTing its signed callback; a
callback that is not signed with its secret, or comes at the wrong time, changes nothing."""

from __future__ import annotations

import json

from shared.audit.webhooks import new_secret, signed_headers
from tests.integration.dsar.jobs.connector import Connector, Seen


def accepted(_: Seen, __: int) -> tuple[int, bytes]:
    return 202, b""


async def _waiting_job(scene, conn):
    _name, secret = await scene.connector(conn.url)
    rid = await scene.request("access")
    async with scene.worker():

        async def waiting():
            return (await scene.job(rid)).status == "waiting"

        await scene.until(waiting)
    return rid, secret, await scene.job(rid)


def _signed(secret: str, body: dict, message_id: str = "cb-1") -> tuple[bytes, dict]:
    raw = json.dumps(body).encode()
    return raw, {"Content-Type": "application/json", **signed_headers(secret, message_id, raw)}


async def test_a_signed_callback_completes_a_waiting_job_and_its_request(scene, jobs_api):
    async with Connector(accepted) as conn:
        rid, secret, job = await _waiting_job(scene, conn)
        raw, headers = _signed(secret, {"status": "done", "data": {"visits": 2}})
        r = await jobs_api.post(f"/v1/jobs/{job.id}/callback", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "done"
    assert (await scene.job(rid)).status == "done"
    assert (await scene.request_row(rid)).outcome == "fulfilled"
    again = await jobs_api.post(f"/v1/jobs/{job.id}/callback", content=raw, headers=headers)
    assert again.status_code == 409  # no longer waiting


async def test_a_callback_with_a_bad_signature_is_refused_and_the_job_still_waits(scene, jobs_api):
    async with Connector(accepted) as conn:
        rid, _, job = await _waiting_job(scene, conn)
        raw, headers = _signed(new_secret(), {"status": "done"})  # someone else's secret
        r = await jobs_api.post(f"/v1/jobs/{job.id}/callback", content=raw, headers=headers)
        unsigned = await jobs_api.post(
            f"/v1/jobs/{job.id}/callback", content=raw, headers={"Content-Type": "application/json"}
        )
    assert r.status_code == 401 and unsigned.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (await scene.job(rid)).status == "waiting"


async def test_a_signed_callback_that_breaks_the_protocol_is_422(scene, jobs_api):
    async with Connector(accepted) as conn:
        rid, secret, job = await _waiting_job(scene, conn)
        raw, headers = _signed(secret, {"status": "exempt"})  # no reason
        r = await jobs_api.post(f"/v1/jobs/{job.id}/callback", content=raw, headers=headers)
    assert r.status_code == 422
    assert (await scene.job(rid)).status == "waiting"


async def test_a_callback_for_an_unknown_job_is_404(jobs_api):
    raw, headers = _signed(new_secret(), {"status": "done"})
    r = await jobs_api.post(
        "/v1/jobs/00000000-0000-4000-8000-000000000000/callback", content=raw, headers=headers
    )
    assert r.status_code == 404
