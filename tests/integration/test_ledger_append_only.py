"""The database itself refuses to change or remove ledger rows, whoever asks."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.ledger_helpers import post_consent, scene

STATEMENTS = [
    "UPDATE consent_events SET state = 'granted'",
    "DELETE FROM consent_events",
    "TRUNCATE consent_events CASCADE",
    "UPDATE receipts SET jws = 'x'",
    "DELETE FROM receipts",
    "TRUNCATE receipts",
]


@pytest.mark.parametrize("statement", STATEMENTS)
async def test_ledger_rows_cannot_be_changed_or_removed(consent, auth, new_id, engine, statement):
    key, ext = await scene(consent, auth, new_id)
    assert (await post_consent(consent, auth, ext, key)).status_code == 201
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            with pytest.raises(DBAPIError, match="append-only"):
                await conn.execute(text(statement))
        finally:
            await transaction.rollback()
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM consent_events"))).scalar_one()
    assert count >= 1
