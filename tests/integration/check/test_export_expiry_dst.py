"""The audience lets a consent lapse at the very instant the check does, across a DST change.

The check counts ``validity_days`` as whole 24-hour days. Adding days to a timestamp in SQL counts
calendar days in the session's time zone instead, which across a daylight-saving change are 23
or 25 hours long: an export whose session runs in such a zone would list someone for up to an
hour after the check says "expired" (or drop them an hour early).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from services.consent.service.exports import NDJSON, ExportService, ExportSettings
from tests.ledger_helpers import make_purpose, make_subject, post_consent

HELSINKI = ZoneInfo("Europe/Helsinki")
MARGIN = timedelta(minutes=20)


def last_dst_change(now: datetime) -> datetime:
    """The latest instant before ``now`` at which Helsinki moved its clocks (to the hour)."""
    at = now.replace(minute=0, second=0, microsecond=0)
    while (at - timedelta(hours=1)).astimezone(HELSINKI).utcoffset() == at.astimezone(
        HELSINKI
    ).utcoffset():
        at -= timedelta(hours=1)
    return at


def in_zone(dsn: str, zone: str) -> str:
    """The DSN with a session time zone (asyncpg passes query parameters as server settings)."""
    return f"{dsn}{'&' if '?' in dsn else '?'}TimeZone={zone}"


async def test_a_lapsed_consent_leaves_the_audience_when_the_check_says_expired_across_dst(
    consent, auth, new_id, database_url, keyring
):
    now = datetime.now(UTC)
    days = (now - last_dst_change(now)).days + 2  # the validity spans exactly one DST change
    key, lapsed, live = new_id("dst"), new_id("lapsed"), new_id("live")
    await make_purpose(consent, auth, key, validity_days=days)
    for ext in (lapsed, live):
        await make_subject(consent, auth, ext)
        assert (await post_consent(consent, auth, ext, key)).status_code == 201
    edge = now - timedelta(days=days)  # granted at ``edge``: lapses exactly now, by the check
    conn = await asyncpg.connect(database_url)
    try:
        for ext, granted_at in ((lapsed, edge - MARGIN), (live, edge + MARGIN)):
            await conn.execute(
                "UPDATE consent_state c SET granted_at = $2 FROM subjects s"
                " WHERE s.id = c.subject_id AND s.external_id = $1 AND c.purpose_key = $3",
                ext,
                granted_at,
                key,
            )
    finally:
        await conn.close()

    batch = await consent.post(
        "/v1/check/batch",
        json={"purpose": key, "channel": "email", "subjects": [lapsed, live]},
        headers=auth("marketing"),
    )
    reasons = {r["subject"]: r["reasons"] for r in batch.json()["results"]}
    assert reasons == {lapsed: ["expired"], live: []}

    helsinki_dsn = in_zone(database_url, "Europe/Helsinki")
    probe = await asyncpg.connect(helsinki_dsn)
    try:
        assert await probe.fetchval("SHOW TimeZone") == "Europe/Helsinki"
    finally:
        await probe.close()
    export = await ExportService(ExportSettings(dsn=helsinki_dsn), keyring).audience(
        key, "email", None, NDJSON
    )
    body = b"".join([chunk async for chunk in export.body])
    audience = {json.loads(line)["subject"] for line in body.splitlines()}
    assert audience == {live}
