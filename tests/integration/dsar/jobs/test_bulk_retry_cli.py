"""``lupa jobs retry``: every failed job queued again in committed batches, each with the
``job.retry_requested`` event the API's bulk retry writes; interrupted, it keeps what it did,
and the next run retries only the rest."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from lupa.cli.main import main
from shared.audit.outbox import AuditEvent, record_event
from shared.db.engine import session_scope


async def _failed_jobs(scene: Any, count: int, type_: str = "erasure") -> tuple[str, list]:
    """``count`` requests of ``type_`` whose job at one connector has failed (as after its last
    attempt); the worker is not running, so nothing else touches them."""
    name, _ = await scene.connector("http://127.0.0.1:9/", actions=(type_,))
    rids = [await scene.request(type_) for _ in range(count)]
    async with session_scope(scene.sessions) as s:
        await s.execute(
            text(
                "UPDATE dsar_jobs SET status = 'failed', attempts = 3, last_error = 'HTTP 500' "
                "WHERE connector = :c"
            ),
            {"c": name},
        )
        await record_event(s, AuditEvent("dsar", "test.jobs_failed", None, {"connector": name}))
    return name, rids


async def _retry_events(scene: Any, name: str) -> dict[str, list[str]]:
    """Job id -> the ``by`` of each retry event recorded for it."""
    async with scene.sessions() as s:
        rows = await s.execute(
            text(
                "SELECT data->>'job', data->>'by' FROM audit_events "
                "WHERE type LIKE '%job.retry_requested' AND data->>'connector' = :c"
            ),
            {"c": name},
        )
        found: dict[str, list[str]] = {}
        for job, by in rows:
            found.setdefault(job, []).append(by)
        return found


async def _statuses(scene: Any, rids: list) -> list[str]:
    return sorted([(await scene.job(rid)).status for rid in rids])


async def test_jobs_retry_interrupted_then_run_again_retries_each_job_once(
    scene, jobs_url, monkeypatch, capsys
):
    name, rids = await _failed_jobs(scene, 5)
    other, [other_rid] = await _failed_jobs(scene, 1, "restriction")
    monkeypatch.setenv("DATABASE_URL", jobs_url)
    argv = ["jobs", "retry", "--connector", name, "--batch-size", "2"]

    with monkeypatch.context() as patch:
        _interrupt_after_first_batch(patch)
        code = await asyncio.to_thread(main, argv)
    err = capsys.readouterr().err
    assert code == 130 and "Traceback" not in err
    assert "retrying failed jobs: 0 of 5 (0.0%)" in err
    assert err.strip().splitlines()[-1] == (
        "retrying failed jobs: interrupted after 2 of 5; run it again to continue"
    )
    assert await _statuses(scene, rids) == ["failed"] * 3 + ["queued"] * 2

    assert await asyncio.to_thread(main, argv) == 0
    assert "queued 3 failed job(s) again" in capsys.readouterr().out
    assert await _statuses(scene, rids) == ["queued"] * 5
    events = await _retry_events(scene, name)
    assert len(events) == 5 and all(by == ["bulk"] for by in events.values())
    assert (await scene.job(other_rid)).status == "failed"  # another connector: not touched
    assert await _retry_events(scene, other) == {}

    assert await asyncio.to_thread(main, argv) == 0  # nothing failed any more: nothing again
    assert "queued 0 failed job(s) again" in capsys.readouterr().out
    assert len(await _retry_events(scene, name)) == 5


def _interrupt_after_first_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C right after the first batch committed."""
    from shared import progress

    original = progress._PlainLines.advance

    def advance(self: Any, n: int = 1) -> None:
        original(self, n)
        raise KeyboardInterrupt

    monkeypatch.setattr(progress._PlainLines, "advance", advance)
