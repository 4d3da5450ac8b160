"""Streaming audience and suppression exports with flat memory.

Each export holds one connection of its own (not the check pool, which must stay free for the
hot path) in a read-only repeatable-read transaction: the file is one consistent snapshot.
Rows come through a server-side cursor in chunks and leave as encoded bytes at once. A failure
before the first byte is a 503 problem; one mid-stream aborts the response, which HTTP clients
see as an incomplete transfer, never as a short but complete list.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from services.consent.db import exports as repo
from services.consent.service.check import AgeReader, CheckSettings, unavailable_problem
from shared.keys import Keyring
from shared.problems import InvalidInput, UnknownPurpose

log = structlog.get_logger("lupa.exports")
NDJSON = "application/x-ndjson"
CSV = "text/csv; charset=utf-8"


@dataclass(frozen=True)
class Export:
    media_type: str
    body: AsyncIterator[bytes]


def choose_format(accept: str | None) -> str:
    """CSV when the client asks for it, NDJSON otherwise (the default)."""
    return CSV if accept and "text/csv" in accept else NDJSON


def _json_string(value: str) -> str:
    # External ids are printable ASCII, so only the quote and the backslash need escaping.
    if '"' in value or "\\" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{value}"'


def _csv_field(value: str) -> str:
    return f'"{value.replace(chr(34), chr(34) * 2)}"' if ("," in value or '"' in value) else value


def line_encoder(field: str, media_type: str) -> tuple[bytes, Callable[[list[str]], bytes]]:
    """The header and a chunk encoder for one column of text values."""
    if media_type == CSV:
        return f"{field}\r\n".encode(), lambda values: "".join(
            _csv_field(v) + "\r\n" for v in values
        ).encode()
    prefix = f'{{"{field}":'
    return b"", lambda values: "".join(f"{prefix}{_json_string(v)}}}\n" for v in values).encode()


def _as_is(chunk: bytearray) -> bytes:
    return bytes(chunk)  # asyncpg hands over a bytearray; the response wants bytes


def _csv_line_ends(chunk: bytearray) -> bytes:
    """COPY ends lines with LF; the CSV export with CRLF. \\x01 (COPY's quote, never in data)
    could only appear around a line that is exactly ``\\.``: drop it."""
    return bytes(chunk).replace(b"\x01", b"").replace(b"\n", b"\r\n")


class ExportService:
    def __init__(self, settings: CheckSettings, keyring: Keyring) -> None:
        self.settings = settings
        self.ages = AgeReader(keyring)

    async def audience(
        self, purpose: str, channel: str, topic: str | None, media_type: str
    ) -> Export:
        """Every subject the check would allow now for ``purpose`` on ``channel``."""
        conn, tx = await self._open()
        try:
            terms = await repo.purpose_terms(conn, purpose)
        except Exception:
            await conn.close()
            raise
        if terms is None:
            await conn.close()
            raise UnknownPurpose(f"There is no purpose '{purpose}'.", field="purpose")
        with_age = terms["min_age"] is not None
        args = (purpose, channel, topic, datetime.now(UTC))
        header, encode = line_encoder("subject", media_type)
        if not with_age:
            # No rule left for Python: PostgreSQL renders the lines and COPY streams them.
            csv = media_type == CSV
            line = repo.CSV_LINE if csv else repo.NDJSON_LINE
            sql = repo.audience_copy_sql(terms["legal_basis"], line)
            finish = _csv_line_ends if csv else _as_is
            return Export(media_type, self._copy(conn, tx, sql, args, header, finish))
        sql = repo.audience_sql(terms["legal_basis"], with_age)

        def encode_rows(rows: list[Any]) -> bytes:
            return encode(self._allowed_ids(rows, with_age))

        return Export(media_type, self._stream(conn, tx, sql, args, header, encode_rows))

    async def suppression(self, channel: str, purpose: str | None, media_type: str) -> Export:
        """Keyed hashes of every address that must not be contacted on ``channel``."""
        if channel not in repo.SUPPRESSION_COLUMNS:
            raise InvalidInput("Suppression lists exist for email, sms and phone.", field="channel")
        conn, tx = await self._open()
        header, encode = line_encoder("hash", media_type)
        return Export(
            media_type,
            self._stream(
                conn,
                tx,
                repo.suppression_sql(channel),
                (channel, purpose),
                header,
                lambda rows: encode([r[0] for r in rows]),
            ),
        )

    def _allowed_ids(self, rows: list[Any], with_age: bool) -> list[str]:
        """Rows pass unless the purpose has a minimum age the subject does not meet."""
        if not with_age:
            return [r[0] for r in rows]
        return [r[0] for r in rows if self._old_enough(r)]

    def _old_enough(self, row: Any) -> bool:
        if row[5] == "guardian":
            return True
        age = self.ages.age(row[1], row[2], row[3], row[4])
        return age is not None and age >= row[6]

    async def _open(self) -> tuple[asyncpg.Connection, Any]:
        try:
            conn = await asyncpg.connect(
                self.settings.dsn,
                timeout=self.settings.acquire_timeout_s,
                server_settings={"application_name": "lupa-export"},
            )
            tx = conn.transaction(isolation="repeatable_read", readonly=True)
            await tx.start()
        except Exception as exc:
            log.warning("export_unavailable", exc_type=type(exc).__name__)
            raise unavailable_problem() from None
        return conn, tx

    async def _copy(
        self,
        conn: asyncpg.Connection,
        tx: Any,
        sql: str,
        args: tuple[Any, ...],
        header: bytes,
        finish: Callable[[bytearray], bytes],
    ) -> AsyncIterator[bytes]:
        """``COPY (sql) TO STDOUT`` relayed one socket read at a time.

        Each read is sent on before the next is taken: when the client reads slowly, the copy
        waits, so memory stays flat (one read, at most a few hundred KiB). A failed copy ends
        the body with an error (an aborted transfer), as a failed cursor read does.
        """
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()

        async def hand_over(data: bytearray) -> None:
            # One chunk at a time: wait until it has been sent on. asyncpg stops reading the
            # socket meanwhile, so PostgreSQL waits and nothing piles up in this process.
            await queue.put(finish(data))
            await queue.join()

        async def copy() -> None:
            try:
                await conn.copy_from_query(sql, *args, output=hand_over, **repo.COPY_OPTIONS)
            finally:
                queue.put_nowait(None)

        task = asyncio.create_task(copy())
        try:
            if header:
                yield header
            while (chunk := await queue.get()) is not None:
                try:
                    yield chunk
                finally:
                    queue.task_done()
            await task
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            try:
                await tx.rollback()
            finally:
                await conn.close()

    async def _stream(
        self,
        conn: asyncpg.Connection,
        tx: Any,
        sql: str,
        args: tuple[Any, ...],
        header: bytes,
        encode: Callable[[list[Any]], bytes],
    ) -> AsyncIterator[bytes]:
        try:
            if header:
                yield header
            async for rows in repo.chunks(conn, sql, *args):
                yield encode(rows)
        finally:
            try:
                await tx.rollback()
            finally:
                await conn.close()
