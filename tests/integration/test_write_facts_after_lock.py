"""A consent write reads the current state only once it holds the subject's lock.

The write decides from the current state (a live grant needs no second opt-in, a withdrawal
keeps the version it withdraws), so the state it reads must include whatever the writer it
waited for committed. ``consent_write_facts`` (migration c0005) locks, then reads in a fresh
snapshot; the plain one-statement join it replaces is shown missing the committed change.
"""

from __future__ import annotations

import asyncio

import asyncpg

from tests.ledger_helpers import post_consent, scene, until_waiting_for_a_lock

FACTS = "SELECT (f.state).state FROM consent_write_facts($1, $2, 'email') f"
ONE_STATEMENT = (
    "SELECT cs.state FROM subjects s LEFT JOIN consent_state cs ON cs.subject_id = s.id"
    " AND cs.purpose_key = $2 AND cs.channel = 'email' WHERE s.external_id = $1 FOR UPDATE OF s"
)


async def _read_while_a_writer_holds_the_lock(
    database_url: str, sql: str, ext: str, key: str
) -> str:
    holder = await asyncpg.connect(database_url)
    waiter = await asyncpg.connect(database_url)
    try:
        async with holder.transaction():
            await holder.fetchrow(FACTS, ext, key)  # takes the subject's row lock
            waiting = asyncio.ensure_future(waiter.fetchval(sql, ext, key))
            await until_waiting_for_a_lock(holder, waiter.get_server_pid())
            await holder.execute(
                "UPDATE consent_state SET state = 'withdrawn' FROM subjects s"
                " WHERE s.id = consent_state.subject_id AND s.external_id = $1",
                ext,
            )
        return await asyncio.wait_for(waiting, 10)  # type: ignore[no-any-return]
    finally:
        await holder.close()
        await waiter.close()


async def test_the_state_read_after_waiting_includes_the_committed_write(
    consent, auth, new_id, database_url
):
    key, ext = await scene(consent, auth, new_id)
    assert (await post_consent(consent, auth, ext, key)).status_code == 201
    seen = await _read_while_a_writer_holds_the_lock(database_url, FACTS, ext, key)
    assert seen == "withdrawn"


async def test_a_single_locking_select_would_have_read_the_stale_state(
    consent, auth, new_id, database_url
):
    key, ext = await scene(consent, auth, new_id)
    assert (await post_consent(consent, auth, ext, key)).status_code == 201
    seen = await _read_while_a_writer_holds_the_lock(database_url, ONE_STATEMENT, ext, key)
    assert seen == "granted"  # why the function exists: this join kept its older snapshot
