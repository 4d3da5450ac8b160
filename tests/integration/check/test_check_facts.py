"""check_facts, the one row a check reads, never disagrees with the tables it is derived from.

Triggers keep it in step (migration c0003); these tests recompute it from subjects,
consent_state (with each entry's last ledger event) and preferences after every kind of write,
after writers racing on one subject, and after the migration fills it for existing subjects.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from lupa.database import upgrade
from services.consent.db import check_query
from tests.api.check.helpers import check
from tests.concurrency import race
from tests.conftest import migrated_database
from tests.ledger_helpers import make_purpose, make_subject, post_consent

# What check_facts must hold, recomputed from its sources; the migration's backfill is the
# same statement, so the test also fails if the triggers and the backfill drift apart.
EXPECTED = """
    SELECT s.id AS subject_id, s.external_id, s.erased_at IS NOT NULL AS erased,
           s.restricted_at IS NOT NULL AS restricted, s.objected_at IS NOT NULL AS objected,
           s.gpc_at,
           coalesce((SELECT jsonb_object_agg(c.purpose_key || '/' || c.channel, jsonb_build_array(
                         c.state, c.purpose_version, c.granted_at, e.event_id, e.given_by))
                     FROM consent_state c JOIN consent_events e ON e.id = c.last_event_id
                     WHERE c.subject_id = s.id), '{}') AS consents,
           p.doc AS preferences
    FROM subjects s LEFT JOIN preferences p ON p.subject_id = s.id
    WHERE s.external_id = ANY($1::text[])
"""
DISAGREEING = f"""
    WITH expected AS ({EXPECTED}),
         actual AS (SELECT subject_id, external_id::text, erased, restricted, objected, gpc_at,
                           consents, preferences
                    FROM check_facts WHERE external_id = ANY($1::text[]))
    SELECT coalesce(e.external_id, a.external_id) AS external_id
    FROM expected e FULL JOIN actual a USING (subject_id)
    WHERE row(e.*) IS DISTINCT FROM row(a.*)
"""


async def disagreeing(database_url: str, external_ids: list[str]) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        return [r["external_id"] for r in await conn.fetch(DISAGREEING, external_ids)]
    finally:
        await conn.close()


async def patch(consent, auth, ext: str, body: dict) -> httpx.Response:
    return await consent.patch(
        f"/v1/subjects/{ext}/preferences", json=body, headers={**auth("admin"), "If-Match": "*"}
    )


async def test_every_kind_of_write_reaches_check_facts(consent, auth, new_id, database_url):
    key, other = new_id("p"), new_id("p")
    await make_purpose(consent, auth, key, double_opt_in_channels=["sms"])
    await make_purpose(consent, auth, other, legal_basis="legitimate_interest")
    ext, quiet = new_id("cust"), new_id("cust")
    await make_subject(consent, auth, ext)
    await make_subject(consent, auth, quiet)  # never writes anything else
    assert (await post_consent(consent, auth, ext, key)).status_code == 201
    assert (await post_consent(consent, auth, ext, key, channel="sms")).status_code == 201
    assert (await post_consent(consent, auth, ext, other, action="withdraw")).status_code == 201
    assert (
        await patch(consent, auth, ext, {"channels": {"email": {"frequency": "weekly"}}})
    ).status_code == 200
    assert await disagreeing(database_url, [ext, quiet]) == []
    assert (await post_consent(consent, auth, ext, key, action="withdraw")).status_code == 201
    assert (await patch(consent, auth, ext, {"marketing_opt_out": True})).status_code == 200
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE subjects SET restricted_at = now(), gpc_at = now() WHERE external_id = $1", ext
        )
    finally:
        await conn.close()
    assert await disagreeing(database_url, [ext, quiet]) == []
    assert (await check(consent, auth, ext, key))["reasons"] == [
        "restricted",
        "withdrawn",
        "marketing_opt_out",
    ]


async def test_writers_racing_on_one_subject_leave_check_facts_in_step(
    consent, auth, new_id, database_url
):
    keys = [new_id("p") for _ in range(3)]
    for key in keys:
        await make_purpose(consent, auth, key)
    ext = new_id("cust")
    await make_subject(consent, auth, ext)
    grants = [
        consent.build_request(
            "POST",
            f"/v1/subjects/{ext}/consents",
            headers=auth("admin"),
            json={
                "purpose": keys[n % 3],
                "channel": ("email", "sms")[n % 2],
                "action": ("grant", "withdraw")[n // 3 % 2],
            },
        )
        for n in range(24)
    ]
    patches = [
        consent.build_request(
            "PATCH",
            f"/v1/subjects/{ext}/preferences",
            headers={**auth("admin"), "If-Match": "*"},
            json={"channels": {"sms": {"enabled": n % 2 == 0}}},
        )
        for n in range(6)
    ]
    result = await race(consent, grants + patches)
    assert result.most_in_flight > 1
    assert all(r.status_code in (200, 201) for r in result.responses), result.statuses()
    assert await disagreeing(database_url, [ext]) == []


async def test_the_migration_fills_check_facts_for_subjects_that_exist(server_dsn):
    async with migrated_database(server_dsn, "lupa_c0003", target="c0002") as url:
        conn = await asyncpg.connect(url)
        try:
            subject_id = uuid.uuid4()
            await _write_before_c0003(conn, subject_id)
        finally:
            await conn.close()
        await asyncio.to_thread(upgrade, url)
        assert await disagreeing(url, ["before-c0003"]) == []
        conn = await asyncpg.connect(url)
        try:
            consents = await conn.fetchval(
                "SELECT consents FROM check_facts WHERE subject_id = $1", subject_id
            )
        finally:
            await conn.close()
        assert '"granted"' in consents and "newsletter/email" in consents


async def _write_before_c0003(conn: asyncpg.Connection, subject_id: uuid.UUID) -> None:
    now = datetime.now(UTC)
    await conn.execute(
        "INSERT INTO purposes (key, legal_basis, channels, current_version) "
        "VALUES ('newsletter', 'consent', '{email}', 1)"
    )
    await conn.execute(
        "INSERT INTO purpose_versions (purpose_key, version, title, description) "
        """VALUES ('newsletter', 1, '{"en": "News"}', '{}')"""
    )
    await conn.execute(
        "INSERT INTO subjects (id, external_id) VALUES ($1, 'before-c0003')", subject_id
    )
    event = await conn.fetchval(
        "INSERT INTO consent_events (event_id, subject_id, purpose_key, purpose_version, channel,"
        " action, state, source, actor, collection_method, occurred_at) VALUES"
        " ($1, $2, 'newsletter', 1, 'email', 'grant', 'granted', 'api', 'test', 'api', $3)"
        " RETURNING id",
        uuid.uuid4(),
        subject_id,
        now,
    )
    await conn.execute(
        "INSERT INTO consent_state (subject_id, purpose_key, channel, state, purpose_version,"
        " granted_at, last_event_id) VALUES ($1, 'newsletter', 'email', 'granted', 1, $2, $3)",
        subject_id,
        now,
        event,
    )
    await conn.execute(
        """INSERT INTO preferences (subject_id, doc) VALUES ($1, '{"marketing_opt_out": true}')""",
        subject_id,
    )


async def test_rows_come_in_the_column_order_the_batch_unpacks(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        row = await check_query.fetch_one(conn, "nobody", "nothing", "email")
        rows = await check_query.fetch_batch(conn, ["nobody", "no one"], "nothing", "email")
    finally:
        await conn.close()
    assert tuple(row.keys()) == check_query.ROW_FIELDS
    assert [tuple(r.keys()) for r in rows] == [check_query.ROW_FIELDS] * 2
    assert not row["known"] and row["purpose"] is None


async def test_an_id_with_a_newline_never_reaches_the_batch_statement():
    with pytest.raises(ValueError, match="newline"):
        await check_query.fetch_batch(None, ["one", "two\nthree"], "p", "email")
