"""Audience and suppression exports stream: memory stays flat as the list grows.

Three ways out: the audience through ``COPY`` (NDJSON and CSV), the audience of a purpose with a
minimum age through a server-side cursor (the birth date is sealed, so that rule runs in
Python), and the suppression list through a cursor too.
"""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import Awaitable, Callable

import asyncpg

from benchmarks.datagen import external_id, populate
from services.consent.service.exports import CSV, NDJSON, Export, ExportService, ExportSettings
from tests.integration.check.population import add_guardian_audience

SMALL, LARGE = 20_000, 200_000
# The cursor paths hold one fetched chunk of records at a time; their populations are built in
# SQL and kept smaller (the small one still spans two chunks of 5,000).
CURSOR_SMALL, CURSOR_LARGE = 6_000, 60_000
MiB = 1024 * 1024

OBJECTING_ADDRESSES = """
INSERT INTO subjects (id, external_id, locale, email_suppression, objected_at)
SELECT gen_random_uuid(), $1 || lpad(g::text, 9, '0'), 'fi', sha256(($1 || g)::bytea), now()
FROM generate_series(1, $2) g
"""

OpenExport = Callable[[], Awaitable[Export]]


async def peak_while_streaming(open_export: OpenExport) -> tuple[int, int, int]:
    """(lines, bytes, peak traced bytes) of one full export, its first read included."""
    lines = size = 0
    tracemalloc.start()
    try:
        export = await open_export()
        async for chunk in export.body:
            lines += chunk.count(b"\n")
            size += len(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return lines, size, peak


async def test_a_ten_times_larger_audience_streams_in_about_the_same_memory(database_url, keyring):
    small, large = f"mem{uuid.uuid4().hex[:8]}s", f"mem{uuid.uuid4().hex[:8]}l"
    conn = await asyncpg.connect(database_url)
    try:
        await populate(conn, small, f"{small}-", SMALL)
        await populate(conn, large, f"{large}-", LARGE)
    finally:
        await conn.close()
    service = ExportService(ExportSettings(dsn=database_url), keyring)
    for media_type, header_lines in ((NDJSON, 0), (CSV, 1)):
        small_lines, _, small_peak = await peak_while_streaming(
            lambda p=small, m=media_type: service.audience(p, "email", None, m)
        )
        large_lines, large_size, large_peak = await peak_while_streaming(
            lambda p=large, m=media_type: service.audience(p, "email", None, m)
        )
        assert (small_lines, large_lines) == (SMALL + header_lines, LARGE + header_lines)
        # Streaming holds one socket read at a time (up to a few hundred KiB, however the reads
        # happen to fall), never the body: a buffered export of the large audience would need
        # its whole ~7 MB. Bounds leave room for read-size jitter, not for growth with size.
        assert large_peak < 3 * small_peak + 512 * 1024, media_type
        assert large_peak < min(2 * MiB, large_size / 3), media_type
    assert external_id(f"{large}-", 0) is not None


async def guardian_audience(conn: asyncpg.Connection, purpose: str, count: int) -> None:
    """A purpose with a minimum age and ``count`` subjects whose guardian granted it."""
    # Guardian-given grants pass the minimum age without a birth date: every row becomes a line.
    await add_guardian_audience(conn, purpose, f"{purpose}-", count, min_age=16)


async def test_an_audience_with_a_minimum_age_streams_in_about_the_same_memory(
    database_url, keyring
):
    small, large = f"age{uuid.uuid4().hex[:8]}s", f"age{uuid.uuid4().hex[:8]}l"
    conn = await asyncpg.connect(database_url)
    try:
        await guardian_audience(conn, small, CURSOR_SMALL)
        await guardian_audience(conn, large, CURSOR_LARGE)
    finally:
        await conn.close()
    service = ExportService(ExportSettings(dsn=database_url), keyring)
    small_lines, _, small_peak = await peak_while_streaming(
        lambda: service.audience(small, "email", None, NDJSON)
    )
    large_lines, _, large_peak = await peak_while_streaming(
        lambda: service.audience(large, "email", None, CSV)
    )
    assert (small_lines, large_lines) == (CURSOR_SMALL, CURSOR_LARGE + 1)
    # One chunk of 5,000 records (and the socket reads behind it) at a time, whatever the total:
    # a buffered export would grow ten-fold with the list.
    assert large_peak < 3 * small_peak + 512 * 1024
    assert large_peak < 8 * MiB


async def test_a_ten_times_longer_suppression_list_streams_in_about_the_same_memory(
    database_url, keyring
):
    service = ExportService(ExportSettings(dsn=database_url), keyring)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(OBJECTING_ADDRESSES, f"sup{uuid.uuid4().hex[:8]}s-", CURSOR_SMALL)
        before, _, small_peak = await peak_while_streaming(
            lambda: service.suppression("email", None, NDJSON)
        )
        added = CURSOR_LARGE - CURSOR_SMALL
        await conn.execute(OBJECTING_ADDRESSES, f"sup{uuid.uuid4().hex[:8]}l-", added)
    finally:
        await conn.close()
    after, _, large_peak = await peak_while_streaming(
        lambda: service.suppression("email", None, NDJSON)
    )
    assert before >= CURSOR_SMALL and after == before + added
    assert large_peak < 3 * small_peak + 512 * 1024
    assert large_peak < 8 * MiB
