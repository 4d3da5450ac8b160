"""``lupa audit verify``: passes on an intact chain; names the first bad event otherwise."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import pytest

from lupa.cli.main import main
from shared.audit.chain import ChainHead, chain_pending, event_hash, link
from shared.audit.checkpoints import CheckpointPolicy
from shared.audit.cloudevents import StoredEvent
from tests.integration.audit.events import write_event


@pytest.fixture
async def chain(scratch_engine, scratch_url, keyring, keys_file, monkeypatch):
    """Ten chained events with a signed checkpoint every three; the CLI pointed at them."""
    for n in range(10):
        await write_event(scratch_engine, n)
    await chain_pending(
        scratch_engine, "consent", keyring=keyring, policy=CheckpointPolicy(every=3), batch=3
    )
    monkeypatch.setenv("DATABASE_URL", scratch_url)
    monkeypatch.setenv("LUPA_KEYS_FILE", str(keys_file))
    return scratch_url


async def verify(capsys, *extra: str) -> tuple[int, str]:
    code = await asyncio.to_thread(main, ["audit", "verify", "--service", "consent", *extra])
    return code, capsys.readouterr().out


async def export_checkpoints(capsys, path) -> None:
    """``lupa audit checkpoints > path``: the copy an auditor keeps away from the database."""
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["audit", "checkpoints", "--service", "consent"]) == 0
    path.write_text(capsys.readouterr().out)


async def rows_from(url: str, sequence: int) -> list[StoredEvent]:
    conn = await asyncpg.connect(url)
    try:
        found = await conn.fetch(
            "SELECT * FROM audit_events WHERE sequence >= $1 ORDER BY sequence", sequence
        )
    finally:
        await conn.close()
    return [StoredEvent(**{**r, "data": json.loads(r["data"])}) for r in found]


async def rewrite_from(url: str, sequence: int, data: dict) -> None:
    """What an attacker with the database can do: change an event, recompute every hash after
    it, and delete the signed checkpoints that would disagree."""
    rows = await rows_from(url, sequence - 1)
    rows[1] = replace(rows[1], data=data)
    head = ChainHead("consent", sequence - 1, bytes(rows[0].hash))
    linked, head = link(rows[1:], head, datetime.now(UTC))
    updates = ";".join(
        f"UPDATE audit_events SET data = '{json.dumps(r.data)}', "
        f"recorded_at = '{r.recorded_at.isoformat()}', "
        f"prev_hash = '\\x{r.prev_hash.hex()}', hash = '\\x{r.hash.hex()}' "
        f"WHERE event_id = '{r.event_id}'"
        for r in linked
    )
    await tamper(
        url,
        f"{updates}; DELETE FROM audit_checkpoints WHERE sequence >= {sequence};"
        f"UPDATE audit_chain_state SET head_hash = '\\x{head.hash.hex()}' "
        "WHERE service = 'consent'",
    )


async def tamper(url: str, sql: str) -> None:
    """Raw SQL as a database superuser would run it, triggers switched off."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(sql)
    finally:
        await conn.close()


async def verify_tampered(chain: str, capsys, sql: str) -> str:
    """``tamper`` with ``sql``, then ``lupa audit verify``, which must fail: what it printed."""
    await tamper(chain, sql)
    code, out = await verify(capsys)
    assert code == 1, out
    return out


async def test_an_intact_chain_verifies(chain, capsys):
    code, out = await verify(capsys)
    assert code == 0, out
    assert "ok consent: 10 events, 3 signed checkpoints" in out


async def test_an_altered_event_is_named(chain, capsys):
    out = await verify_tampered(
        chain, capsys, "UPDATE audit_events SET data = '{\"n\": 42}' WHERE sequence = 5"
    )
    assert "sequence 5" in out and "altered" in out


async def test_an_altered_event_with_a_recomputed_hash_breaks_the_next_link(chain, capsys):
    from sqlalchemy import select

    from shared.audit.chain import event_hash
    from shared.db.tables import audit_events

    await tamper(chain, "UPDATE audit_events SET data = '{\"n\": 42}' WHERE sequence = 5")
    conn = await asyncpg.connect(chain)
    found = await conn.fetchrow("SELECT * FROM audit_events WHERE sequence = 5")
    await conn.close()
    row = StoredEvent(**{**found, "data": {"n": 42}})
    out = await verify_tampered(
        chain,
        capsys,
        f"UPDATE audit_events SET hash = '\\x{event_hash(row).hex()}' WHERE sequence = 5",
    )
    assert "sequence 6" in out and "prev_hash" in out
    assert select and audit_events is not None


async def test_a_deleted_event_is_named(chain, capsys):
    out = await verify_tampered(chain, capsys, "DELETE FROM audit_events WHERE sequence = 4")
    assert "sequence 4" in out and "missing" in out


async def test_an_event_deleted_at_the_tail_is_caught_by_the_signed_checkpoint(chain, capsys):
    out = await verify_tampered(
        chain,
        capsys,
        "DELETE FROM audit_events WHERE sequence >= 9;"
        "UPDATE audit_chain_state SET sequence = 8 WHERE service = 'consent'",
    )
    assert "checkpoint" in out


async def test_an_inserted_event_is_named(chain, capsys):
    out = await verify_tampered(
        chain,
        capsys,
        """
        UPDATE audit_events SET sequence = -sequence WHERE sequence > 6;
        UPDATE audit_events SET sequence = 1 - sequence WHERE sequence < 0;
        INSERT INTO audit_events (event_id, service, type, time, data, sequence, prev_hash, hash)
        SELECT gen_random_uuid(), 'consent', type, time, '{"n": 1000}', 7, hash, hash
        FROM audit_events WHERE sequence = 6""",
    )
    assert "sequence 7" in out


async def test_reordered_events_are_named(chain, capsys):
    out = await verify_tampered(
        chain,
        capsys,
        """
        UPDATE audit_events SET sequence = -1 WHERE sequence = 3;
        UPDATE audit_events SET sequence = 3 WHERE sequence = 4;
        UPDATE audit_events SET sequence = 4 WHERE sequence = -1""",
    )
    assert "sequence 3" in out and "re-ordered" in out


async def test_a_forged_checkpoint_signature_is_named(chain, capsys):
    out = await verify_tampered(
        chain, capsys, "UPDATE audit_checkpoints SET token = token || 'x' WHERE sequence = 6"
    )
    assert "sequence 6" in out and "signature" in out


async def test_an_inserted_event_with_a_correct_hash_is_caught_at_the_next_link(chain, capsys):
    six = (await rows_from(chain, 6))[0]
    forged = replace(
        six,
        event_id="00000000-0000-4000-8000-000000000001",
        data={"n": 1000},
        sequence=7,
        prev_hash=six.hash,
    )
    forged_hash = event_hash(forged)
    out = await verify_tampered(
        chain,
        capsys,
        f"""
        UPDATE audit_events SET sequence = -sequence WHERE sequence > 6;
        UPDATE audit_events SET sequence = 1 - sequence WHERE sequence < 0;
        INSERT INTO audit_events (event_id, service, type, time, data, recorded_at,
                                  sequence, prev_hash, hash)
        SELECT '{forged.event_id}', 'consent', type, time, '{{"n": 1000}}', recorded_at,
               7, hash, '\\x{forged_hash.hex()}'
        FROM audit_events WHERE sequence = 6""",
    )
    assert "sequence 8" in out and "prev_hash" in out  # the forged row itself links and hashes


async def test_a_rewritten_chain_passes_alone_but_not_against_kept_checkpoints(
    chain, capsys, tmp_path
):
    kept = tmp_path / "checkpoints.jsonl"
    await export_checkpoints(capsys, kept)
    assert [json.loads(line)["sequence"] for line in kept.read_text().splitlines()] == [3, 6, 9]
    code, out = await verify(capsys, "--checkpoints", str(kept))
    assert code == 0 and "3 kept checkpoints matched" in out, out

    await rewrite_from(chain, 5, {"n": 42})
    code, out = await verify(capsys)
    assert code == 0, out  # what the database alone can prove: nothing, against this attacker
    code, out = await verify(capsys, "--checkpoints", str(kept))
    assert code == 1, out
    assert "sequence 6" in out and "kept checkpoint names another hash" in out


async def test_a_kept_checkpoint_that_was_not_signed_by_lupa_is_named(chain, capsys, tmp_path):
    kept = tmp_path / "checkpoints.jsonl"
    await export_checkpoints(capsys, kept)
    first = json.loads(kept.read_text().splitlines()[0])
    kept.write_text(json.dumps({**first, "token": first["token"][:-4] + "AAAA"}) + "\n")
    code, out = await verify(capsys, "--checkpoints", str(kept))
    assert code == 1 and "does not verify" in out, out
