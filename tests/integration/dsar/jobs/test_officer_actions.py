"""An officer retries a failed connector job, skips one with a reason, or retries failed jobs
in bulk; only failed jobs are retried, and a skip can complete the request."""

from __future__ import annotations

from tests.integration.dsar.jobs.connector import Connector, Seen


def broken(_: Seen, __: int) -> tuple[int, bytes]:
    return 500, b""


async def _failed_requests(scene, conn, count: int, type_: str = "erasure") -> tuple[str, list]:
    name, _ = await scene.connector(conn.url, actions=(type_,))
    rids = [await scene.request(type_) for _ in range(count)]
    async with scene.worker():

        async def all_failed():
            return all([(await scene.job(r)).status == "failed" for r in rids])

        await scene.until(all_failed)
    return name, rids


async def test_retry_queues_a_failed_job_again_keeping_its_attempts(scene, jobs_api, auth):
    async with Connector(broken) as conn:
        name, [rid] = await _failed_requests(scene, conn, 1)
    r = await jobs_api.post(f"/v1/requests/{rid}/connectors/{name}/retry", headers=auth("officer"))
    assert r.status_code == 200, r.text
    [job] = r.json()
    assert (job["status"], job["attempts"], job["last_error"]) == ("queued", 3, "HTTP 500")
    again = await jobs_api.post(
        f"/v1/requests/{rid}/connectors/{name}/retry", headers=auth("officer")
    )
    assert again.status_code == 409  # queued, not failed
    unknown = await jobs_api.post(
        f"/v1/requests/{rid}/connectors/nosuch/retry", headers=auth("officer")
    )
    assert unknown.status_code == 404
    portal = await jobs_api.post(
        f"/v1/requests/{rid}/connectors/{name}/retry", headers=auth("portal", "cust-1")
    )
    assert portal.status_code == 403


async def test_skip_needs_a_reason_and_completes_the_request(scene, jobs_api, auth):
    async with Connector(broken) as conn:
        name, [rid] = await _failed_requests(scene, conn, 1)
    path = f"/v1/requests/{rid}/connectors/{name}/skip"
    assert (await jobs_api.post(path, json={}, headers=auth("officer"))).status_code == 422
    assert (
        await jobs_api.post(path, json={"reason": " "}, headers=auth("officer"))
    ).status_code == 422
    r = await jobs_api.post(path, json={"reason": "system retired"}, headers=auth("officer"))
    assert r.status_code == 200, r.text
    assert r.json()[0]["status"] == "skipped"
    request = await scene.request_row(rid)
    assert (request.status, request.outcome) == ("completed", "no_data_held")
    assert (await scene.job(rid)).reason == "system retired"
    assert (
        await jobs_api.post(path, json={"reason": "x"}, headers=auth("officer"))
    ).status_code == 409


async def test_bulk_retry_touches_only_failed_jobs_matching_the_filter(scene, jobs_api, auth):
    async with Connector(broken) as conn:
        name, rids = await _failed_requests(scene, conn, 3)
        _other, [other_rid] = await _failed_requests(scene, conn, 1, "restriction")
    r = await jobs_api.post(
        "/v1/jobs/retry",
        json={"connector": name, "requests": [str(rids[0]), str(rids[1])]},
        headers=auth("officer"),
    )
    assert r.status_code == 200 and r.json() == {"retried": 2}
    statuses = [(await scene.job(rid)).status for rid in rids]
    assert statuses == ["queued", "queued", "failed"]
    assert (await scene.job(other_rid)).status == "failed"
    r = await jobs_api.post("/v1/jobs/retry", json={}, headers=auth("admin"))
    assert r.json() == {"retried": 2}  # the two still failed; the queued ones not again
