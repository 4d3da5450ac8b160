"""What a connector answers decides the job: final answers settle the request, errors retry
with backoff and then fail, and every call is signed with the job id as ``webhook-id``."""

from __future__ import annotations

import json

import standardwebhooks
from sqlalchemy import text

from services.dsar.service.request_keys import RequestKeys, open_value
from services.dsar.settings import ExecutionSettings
from tests.integration.dsar.jobs.conftest import FAST
from tests.integration.dsar.jobs.connector import Connector, Seen


def by_subject(seen: Seen, _: int) -> tuple[int, bytes]:
    """done with data for access, not_found for erasure, exempt for rectification."""
    action = seen.job["action"]
    if action == "access":
        return 200, b'{"status": "done", "data": {"orders": 3}}'
    if action == "erasure":
        return 200, b'{"status": "not_found"}'
    return 200, b'{"status": "exempt", "reason": "bookkeeping law"}'


async def test_final_answers_complete_requests_with_their_outcomes(scene):
    async with Connector(by_subject) as conn:
        _name, secret = await scene.connector(conn.url)
        access = await scene.request("access")
        erasure = await scene.request("erasure")
        rect = await scene.request("rectification", changes={"email": "new@example.org"})
        async with scene.worker():

            async def all_done():
                rows = [await scene.request_row(r) for r in (access, erasure, rect)]
                return all(row.status == "completed" for row in rows)

            await scene.until(all_done)
    outcomes = [(await scene.request_row(r)).outcome for r in (access, erasure, rect)]
    assert outcomes == ["fulfilled", "no_data_held", "partly_exempt"]
    job = await scene.job(access)
    async with scene.sessions() as s:
        dek = await RequestKeys(s, scene.keyring).data_key(access)
    sealed = open_value(dek, access, f"job:{job.id}", job.result_ct)
    assert json.loads(sealed) == {"orders": 3}
    assert (await scene.job(rect)).reason == "bookkeeping law"
    rect_job = await scene.job(rect)
    body = conn.calls_of(str(rect_job.id))[0]
    standardwebhooks.Webhook(secret).verify(body.body, body.headers)  # raises if not signed
    assert body.job["changes"] == {"email": "new@example.org"}
    assert body.job["identity"]["email"].endswith("@example.org")
    assert body.job["callback_url"] == f"http://dsar.test/v1/jobs/{rect_job.id}/callback"
    assert "changes" not in conn.calls_of(str(job.id))[0].job


def fails_twice(_: Seen, before: int) -> tuple[int, bytes]:
    return (500, b"oops") if before < 2 else (200, b'{"status": "done"}')


async def test_a_connector_failing_twice_is_retried_with_the_same_job_id_until_it_answers(scene):
    async with Connector(fails_twice) as conn:
        await scene.connector(conn.url)
        rid = await scene.request("access")
        slow = ExecutionSettings(**{**FAST.__dict__, "backoff_base_s": 0.6, "backoff_cap_s": 1})
        async with scene.worker(slow):

            async def errored():
                job = await scene.job(rid)
                return job.last_error == "HTTP 500" and job.status == "queued"

            await scene.until(errored)  # the error is shown while the retry waits
            await scene.until(lambda: _completed(scene, rid))
    job = await scene.job(rid)
    assert job.status == "done" and job.attempts == 3 and job.last_error is None
    ids = {call.headers["webhook-id"] for call in conn.calls_of(str(job.id))}
    assert ids == {str(job.id)} and len(conn.calls_of(str(job.id))) == 3
    async with scene.sessions() as s:
        events = (
            await s.execute(
                text(
                    "SELECT type, data::text AS data FROM audit_events WHERE subject = :r "
                    "ORDER BY id"
                ),
                {"r": str(rid)},
            )
        ).all()
    types = [e.type.removeprefix("fi.lupa.dsar.") for e in events]
    completed = types.index("request.completed")  # then the answer: package, link, mail
    assert types[completed - 1] == "job.succeeded" and "package.stored" in types[completed:]
    assert types.count("job.retry_scheduled") == 2 and types.count("job.started") == 3
    assert "jobs.enqueued" in types
    assert not any("@" in e.data for e in events)  # no address in the trail


async def _completed(scene, rid) -> bool:
    return (await scene.request_row(rid)).status == "completed"


GARBAGE = [
    (200, b"not json", "invalid answer: not JSON"),
    (200, b'{"data": {}}', "invalid answer: missing status"),
    (200, b'{"status": "maybe"}', "invalid answer: bad value at $.status"),
    (200, b'{"status": "exempt"}', "invalid answer: exempt needs a reason"),
    (200, b'{"status": "done", "data": [1]}', "invalid answer: bad value at $.data"),
    (201, b'{"status": "done"}', "HTTP 201"),
]


async def test_garbage_answers_fail_the_job_after_the_last_attempt_with_a_clean_error(scene):
    answers = {}

    def garbage(seen: Seen, _: int) -> tuple[int, bytes]:
        return answers[seen.job["request"]][:2]

    async with Connector(garbage) as conn:
        await scene.connector(conn.url)
        rids = []
        for case in GARBAGE:
            rid = await scene.request("access")
            answers[str(rid)] = case
            rids.append(rid)
        async with scene.worker():

            async def all_failed():
                return all([(await scene.job(r)).status == "failed" for r in rids])

            await scene.until(all_failed)
    for rid, (_, _, error) in zip(rids, GARBAGE, strict=True):
        job = await scene.job(rid)
        assert (job.last_error, job.attempts) == (error, FAST.max_attempts)
        assert (await scene.request_row(rid)).status == "in_progress"


async def test_an_unreachable_connector_is_an_error_not_a_crash(scene):
    async with Connector() as conn:
        url = conn.url
    await scene.connector(url)  # its port is closed now
    rid = await scene.request("erasure")
    async with scene.worker():

        async def failed():
            return (await scene.job(rid)).status == "failed"

        await scene.until(failed)
    assert (await scene.job(rid)).last_error.startswith("connection failed")


async def test_enqueue_twice_adds_nothing_and_only_enabled_connectors_doing_the_action(scene):
    from services.dsar.service.jobs import enqueue_for_request

    async with Connector() as conn:
        await scene.connector(conn.url, actions=("erasure",))
        rid = await scene.request("erasure")
        await scene.request("access")  # no connector does access: no job
        async with scene.sessions() as s:  # approval's own events would commit it; here none
            assert await enqueue_for_request(s, rid, "erasure") == []
            await s.rollback()
        async with scene.sessions() as s:
            count = await s.scalar(text("SELECT count(*) FROM dsar_jobs"))
    assert count == 1
