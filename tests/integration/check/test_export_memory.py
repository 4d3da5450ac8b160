"""Audience and suppression exports stream: memory stays flat as the audience grows."""

from __future__ import annotations

import tracemalloc
import uuid

import asyncpg

from benchmarks.datagen import external_id, populate
from services.consent.service.exports import NDJSON, ExportService, ExportSettings

SMALL, LARGE = 20_000, 200_000


async def peak_while_streaming(service: ExportService, purpose: str) -> tuple[int, int, int]:
    """(lines, bytes, peak traced bytes) of one full audience export."""
    export = await service.audience(purpose, "email", None, NDJSON)
    lines = size = 0
    tracemalloc.start()
    try:
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
    small_lines, _, small_peak = await peak_while_streaming(service, small)
    large_lines, large_size, large_peak = await peak_while_streaming(service, large)
    assert (small_lines, large_lines) == (SMALL, LARGE)
    # Streaming holds one socket read at a time (up to a few hundred KiB, however the reads
    # happen to fall), never the body: a buffered export of the large audience would need
    # its whole ~7 MB. Bounds leave room for read-size jitter, not for growth with size.
    assert large_peak < 3 * small_peak + 512 * 1024
    assert large_peak < min(2 * 1024 * 1024, large_size / 3)
    assert external_id(f"{large}-", 0) is not None
