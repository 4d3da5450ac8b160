"""Long commands interrupted and run again: Ctrl-C leaves committed batches in place, prints
one line saying how far it got, exits 130 without a traceback, and the next run does exactly
the rest (one expiry event per consent, every data key rewrapped once)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from lupa.cli.main import main
from shared.keys import save_keyring
from shared.settings import sqlalchemy_url
from tests.integration.test_key_rotation import create_subjects, deployment  # noqa: F401
from tests.ledger_helpers import make_purpose, make_subject, post_consent

ROOT = Path(__file__).resolve().parents[2]


async def _lapsed_grants(consent: Any, auth: Any, new_id: Any, db: Any, n: int) -> tuple[str, list]:
    """``n`` subjects with an email grant of one purpose, granted 31 days before a 30-day
    validity ends (the projection's grant time moved back, as time passing would)."""
    key = new_id("p")
    await make_purpose(consent, auth, key, validity_days=30)
    externals = [new_id("cust") for _ in range(n)]
    for ext in externals:
        await make_subject(consent, auth, ext)
        assert (await post_consent(consent, auth, ext, key)).status_code == 201
    async with db.begin() as conn:
        await conn.execute(
            text(
                "UPDATE consent_state SET granted_at = granted_at - interval '31 days' "
                "WHERE purpose_key = :k"
            ),
            {"k": key},
        )
    return key, externals


async def _expiry_events(db: Any, key: str) -> dict[str, int]:
    async with db.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT s.external_id, count(e.id) FROM subjects s LEFT JOIN consent_events e "
                "ON e.subject_id = s.id AND e.purpose_key = :k AND e.action = 'expire' "
                "WHERE s.id IN (SELECT subject_id FROM consent_state WHERE purpose_key = :k) "
                "GROUP BY s.external_id"
            ),
            {"k": key},
        )
        return dict(rows.all())


def _lupa(*argv: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lupa", *argv],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _line_with(stream: Any, needle: str, seen: list[str]) -> None:
    while True:
        line = await asyncio.to_thread(stream.readline)
        assert line, f"the command ended before printing {needle!r}: {seen}"
        seen.append(line)
        if needle in line:
            return


async def test_consents_expire_interrupted_by_sigint_then_run_again_records_each_once(
    consent, auth, new_id, database_url, keyring, tmp_path, monkeypatch, capsys
):
    db = create_async_engine(sqlalchemy_url(database_url))
    keys_file = tmp_path / "keyring.json"
    save_keyring(keys_file, keyring)
    env = {"DATABASE_URL": database_url, "LUPA_KEYS_FILE": str(keys_file)}
    try:
        key, externals = await _lapsed_grants(consent, auth, new_id, db, 6)
        # A writer holds the fourth subject: the run records three, then waits on its lock.
        async with db.connect() as holder:
            await holder.begin()
            await holder.execute(
                text("SELECT 1 FROM subjects WHERE external_id = :e FOR UPDATE"),
                {"e": externals[3]},
            )
            run = _lupa("consents", "expire", "--purpose", key, "--batch-size", "2", env=env)
            seen: list[str] = []
            try:
                await asyncio.wait_for(_line_with(run.stderr, "3 of 6", seen), 120)
                run.send_signal(signal.SIGINT)
                out, err = await asyncio.wait_for(asyncio.to_thread(run.communicate), 60)
            finally:
                if run.poll() is None:
                    run.kill()
            await holder.rollback()
        assert run.returncode == 130, (out, err)
        assert "Traceback" not in err
        assert err.strip().splitlines()[-1] == (
            "recording expiry: interrupted after 3 of 6; run it again to continue "
            "(what was recorded stays, nothing is recorded twice)"
        )
        assert sorted((await _expiry_events(db, key)).values()) == [0, 0, 0, 1, 1, 1]

        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code = await asyncio.to_thread(main, ["consents", "expire", "--purpose", key])
        assert code == 0
        assert "recorded 3 expiry event(s)" in capsys.readouterr().out
        assert await _expiry_events(db, key) == {ext: 1 for ext in externals}
    finally:
        await db.dispose()


def _interrupt_after_first_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C right after the first batch committed (what the count shows has been done)."""
    from shared import progress

    original = progress._PlainLines.advance

    def advance(self: Any, n: int = 1) -> None:
        original(self, n)
        raise KeyboardInterrupt

    monkeypatch.setattr(progress._PlainLines, "advance", advance)


async def test_keys_rewrap_interrupted_then_run_again_rewraps_each_key_once(
    deployment,  # noqa: F811
    database_url,
    new_id,
    monkeypatch,
    capsys,
):
    made = await create_subjects(deployment, new_id, 7)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LUPA_KEYS_FILE", str(deployment.path))
    monkeypatch.delenv("LUPA_KEYRING", raising=False)
    old = deployment.keyring().active_kek_id
    assert await asyncio.to_thread(main, ["keys", "rotate", "--no-rewrap"]) == 0
    new = deployment.keyring().active_kek_id
    capsys.readouterr()

    with monkeypatch.context() as patch:
        _interrupt_after_first_batch(patch)
        code = await asyncio.to_thread(main, ["keys", "rewrap", "--batch-size", "3"])
    err = capsys.readouterr().err
    assert code == 130 and "Traceback" not in err
    assert "rewrapping data keys: 0 of 7 (0.0%)" in err
    assert err.strip().splitlines()[-1] == (
        "rewrapping data keys: interrupted after 3 of 7; run `lupa keys rewrap` to continue"
    )
    assert await _keks_of(database_url, list(made)) == {new: 3, old: 4}

    assert await asyncio.to_thread(main, ["keys", "rewrap", "--batch-size", "3"]) == 0
    assert "rewrapped 4 data key(s)" in capsys.readouterr().out
    assert await _keks_of(database_url, list(made)) == {new: 7}
    assert await _rewrap_counts(database_url, new) == [3, 3, 1]  # each key in one batch only


async def _keks_of(database_url: str, externals: list[str]) -> dict[str, int]:
    db = create_async_engine(sqlalchemy_url(database_url))
    try:
        async with db.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT k.kek_id, count(*) FROM subject_keys k JOIN subjects s "
                    "ON s.id = k.subject_id WHERE s.external_id = ANY(:e) GROUP BY k.kek_id"
                ),
                {"e": externals},
            )
            return dict(rows.all())
    finally:
        await db.dispose()


async def _rewrap_counts(database_url: str, kek: str) -> list[int]:
    db = create_async_engine(sqlalchemy_url(database_url))
    try:
        async with db.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT (data->>'count')::int FROM audit_events "
                    "WHERE type LIKE '%keys.rewrapped' AND data->>'kek' = :k ORDER BY id"
                ),
                {"k": kek},
            )
            return [row[0] for row in rows]
    finally:
        await db.dispose()
