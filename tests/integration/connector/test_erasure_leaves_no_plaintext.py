"""After an erasure job, no column of any table holds the person's email, phone or name.

The scan reads every text, bytea, json(b) and array column of every table in the database
(information_schema), so a table added later is scanned too. It is shown able to fail first:
canary columns of each type, holding the same values, are found before the erasure.
"""

from __future__ import annotations

import secrets

import asyncpg

from tests.api.connector.fixtures import job_body, run
from tests.ledger_helpers import make_purpose, make_subject, post_consent

SCANNED_TYPES = ("text", "character varying", "character", "bytea", "json", "jsonb", "ARRAY")
CANARY = "erasure_scan_canary"


async def columns(db: asyncpg.Connection) -> list[tuple[str, str, str, str]]:
    rows = await db.fetch(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns"
        " JOIN information_schema.tables USING (table_catalog, table_schema, table_name)"
        " WHERE table_type = 'BASE TABLE' AND data_type = ANY($1::text[])"
        " AND table_schema NOT IN ('pg_catalog', 'information_schema')",
        list(SCANNED_TYPES),
    )
    return [(r["table_schema"], r["table_name"], r["column_name"], r["data_type"]) for r in rows]


async def places_holding(db: asyncpg.Connection, values: list[str]) -> set[str]:
    """``schema.table.column`` of every column where one of ``values`` appears as UTF-8."""
    found = set()
    for schema, table, column, kind in await columns(db):
        target = f'"{schema}"."{table}"'
        field = f'"{column}"' if kind == "bytea" else f"convert_to(\"{column}\"::text, 'UTF8')"
        for value in values:
            hit = await db.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM {target} WHERE position($1::bytea IN {field}) > 0)",
                value.encode(),
            )
            if hit:
                found.add(f"{schema}.{table}.{column}")
    return found


async def test_erasure_leaves_no_plaintext_anywhere_in_the_database(
    connector, connector_secret, auth, new_id, database_url
):
    key, ext = new_id("p"), new_id("cust")
    tag = secrets.token_hex(6)
    email, phone = f"erase-{tag}@example.com", f"+3584{int(tag, 16) % 10**8:08d}"
    name = f"Eraseme {tag}"
    await make_purpose(connector, auth, key)
    await make_subject(connector, auth, ext, email=email, phone=phone, name=name)
    await post_consent(connector, auth, ext, key, action="withdraw", reason=f"from {name}")
    saved = await connector.patch(
        f"/v1/subjects/{ext}/preferences",
        json={"topics": {key: ["running"]}},
        headers={**auth("admin"), "If-Match": "*"},
    )
    assert saved.status_code == 200, saved.text
    personal = [email, phone, name]
    db = await asyncpg.connect(database_url)
    try:
        await db.execute(
            f"CREATE SCHEMA {CANARY}; CREATE TABLE {CANARY}.held"
            " (t text, b bytea, j jsonb, a text[])"
        )
        await db.execute(
            f"INSERT INTO {CANARY}.held VALUES ($1, $2, $3::jsonb, ARRAY[$4])",
            email,
            phone.encode(),
            f'{{"n": "{name}"}}',
            email,
        )
        canaries = {f"{CANARY}.held.{c}" for c in ("t", "b", "j", "a")}
        assert await places_holding(db, personal) == canaries
        await db.execute(f"DROP SCHEMA {CANARY} CASCADE")

        answer = await run(connector, connector_secret, job_body("erasure", ext))
        assert answer == {"status": "done"}
        assert await places_holding(db, personal) == set()
        subject = await db.fetchrow(
            "SELECT id, email_suppression, phone_suppression, erased_at FROM subjects"
            " WHERE external_id = $1",
            ext,
        )
        assert subject["erased_at"] is not None
        # Kept: the keyed hashes that stop re-import and mailing; gone: the only data key.
        assert subject["email_suppression"] and subject["phone_suppression"]
        assert (
            await db.fetchval(
                "SELECT count(*) FROM subject_keys WHERE subject_id = $1", subject["id"]
            )
            == 0
        )
        assert (
            await db.fetchval(
                "SELECT count(*) FROM preferences WHERE subject_id = $1", subject["id"]
            )
            == 0
        )
    finally:
        await db.execute(f"DROP SCHEMA IF EXISTS {CANARY} CASCADE")
        await db.close()
