"""The COPY-streamed audience writes exactly the lines the Python encoders would, odd ids too."""

from __future__ import annotations

import csv
import io
import json
import uuid

import asyncpg

from benchmarks.datagen import populate
from services.consent.service.exports import (
    CSV,
    NDJSON,
    ExportService,
    ExportSettings,
    line_encoder,
)

# Quotes, backslashes and commas are valid in external ids and need escaping in JSON and CSV.
PREFIXES = ('q"uote-', "back\\slash-", "com,ma-", 'all\\",-', "plain-")


async def body(service: ExportService, purpose: str, media_type: str) -> bytes:
    export = await service.audience(purpose, "email", None, media_type)
    return b"".join([chunk async for chunk in export.body])


async def test_ndjson_and_csv_lines_match_the_python_encoders(database_url, keyring):
    purpose = f"copy{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(database_url)
    try:
        for prefix in PREFIXES:
            await populate(conn, purpose, f"{purpose}{prefix}", 3)
        ids = await conn.fetch(
            "SELECT s.external_id FROM subjects s JOIN consent_state c ON c.subject_id = s.id"
            " WHERE c.purpose_key = $1",
            purpose,
        )
    finally:
        await conn.close()
    expected = sorted(r[0] for r in ids)
    assert len(expected) == 3 * len(PREFIXES)
    service = ExportService(ExportSettings(dsn=database_url), keyring)

    ndjson = await body(service, purpose, NDJSON)
    _, encode = line_encoder("subject", NDJSON)
    assert sorted(ndjson.splitlines(keepends=True)) == sorted(encode([i]) for i in expected)
    assert sorted(json.loads(line)["subject"] for line in ndjson.splitlines()) == expected

    text = await body(service, purpose, CSV)
    header, encode = line_encoder("subject", CSV)
    assert text.startswith(header)
    lines = text[len(header) :].split(b"\r\n")
    assert lines[-1] == b""
    assert sorted(line + b"\r\n" for line in lines[:-1]) == sorted(encode([i]) for i in expected)
    rows = list(csv.DictReader(io.StringIO(text.decode())))
    assert sorted(r["subject"] for r in rows) == expected
