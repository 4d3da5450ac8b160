"""Export statements select their columns in the order their typed records read them by."""

from __future__ import annotations

import asyncpg

from services.consent.db import exports


async def column_names(conn: asyncpg.Connection, sql: str) -> tuple[str, ...]:
    statement = await conn.prepare(sql)
    return tuple(attribute.name for attribute in statement.get_attributes())


async def test_export_rows_come_in_the_column_order_their_records_read(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        terms = await column_names(conn, exports.PURPOSE_TERMS)
        aged = [
            await column_names(conn, exports.audience_sql(basis, with_age=True))
            for basis in ("consent", "legitimate_interest")
        ]
    finally:
        await conn.close()
    assert terms == exports.AudienceTerms.column_names
    assert aged == [exports.AgedCandidate.column_names] * 2
