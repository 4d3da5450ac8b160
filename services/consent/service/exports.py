"""Streaming audience and suppression exports: flat memory, bounded waits, never a silent cut.

Each export holds one connection of its own (not the check pool, which must stay free for the
hot path) in a read-only repeatable-read transaction: the file is one consistent snapshot.
Every wait on PostgreSQL is bounded: connecting by ``connect_timeout_s``, and each read of the
next rows (a cursor fetch, or the next socket read of a ``COPY``) by ``read_timeout_s``, so a
list of any length streams for as long as rows keep coming, and a stalled database fails it.

The first rows are read before the response starts, so a failure up to then is a 503 problem.
A failure after that aborts the response: the chunked body never gets its final chunk and the
connection is closed, which every HTTP client reports as an incomplete transfer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import asyncpg
import structlog

from services.consent.db import exports as repo
from services.consent.domain.check import CheckDecision
from services.consent.domain.errors import UnknownPurpose
from services.consent.service import check_metrics
from services.consent.service.check import AgeReader, unavailable_problem
from services.consent.settings import ExportBounds
from shared.errors import InvalidInput, LupaError
from shared.keys import Keyring
from shared.settings import Settings, asyncpg_dsn

log = structlog.get_logger("lupa.exports")
# What each exported audience line is: a yes, for which no reason is given.
_ALLOWED = CheckDecision(True, (), None, None, None, None)
NDJSON = "application/x-ndjson"
CSV = "text/csv; charset=utf-8"

Lines = AsyncGenerator[bytes, None]
_Row = TypeVar("_Row")


@dataclass(frozen=True)
class ExportSettings:
    """Bounds of an export: a sick database fails it quickly instead of hanging it."""

    dsn: str
    connect_timeout_s: float = 2.0
    # The longest PostgreSQL may take to produce the next chunk of rows (not the whole file).
    read_timeout_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings, bounds: ExportBounds) -> ExportSettings:
        return cls(
            dsn=asyncpg_dsn(settings.database.url),
            connect_timeout_s=bounds.connect_timeout_s,
            read_timeout_s=bounds.read_timeout_s,
        )


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


async def _encoded(
    chunks: AsyncIterator[list[_Row]], encode: Callable[[list[_Row]], bytes]
) -> Lines:
    """Each chunk of rows read from PostgreSQL as one chunk of the body."""
    async for rows in chunks:
        yield encode(rows)


def _as_is(chunk: bytearray) -> bytes:
    return bytes(chunk)  # asyncpg hands over a bytearray; the response wants bytes


def _csv_line_ends(chunk: bytearray) -> bytes:
    """COPY ends lines with LF; the CSV export with CRLF. \\x01 (COPY's quote, never in data)
    could only appear around a line that is exactly ``\\.``: drop it."""
    return bytes(chunk).replace(b"\x01", b"").replace(b"\n", b"\r\n")


class ExportService:
    def __init__(self, settings: ExportSettings, keyring: Keyring) -> None:
        self.settings = settings
        self.ages = AgeReader(keyring)

    async def audience(
        self, purpose: str, channel: str, topic: str | None, media_type: str
    ) -> Export:
        """Every subject the check would allow now for ``purpose`` on ``channel``."""
        header, _ = line_encoder("subject", media_type)
        return await self._export(
            media_type,
            header,
            lambda conn: self._audience_lines(conn, purpose, channel, topic, media_type),
        )

    async def suppression(self, channel: str, purpose: str | None, media_type: str) -> Export:
        """Keyed hashes of every address that must not be contacted on ``channel``."""
        if channel not in repo.SUPPRESSION_COLUMNS:
            raise InvalidInput("Suppression lists exist for email, sms and phone.", field="channel")
        header, encode = line_encoder("hash", media_type)
        timeout = self.settings.read_timeout_s
        return await self._export(
            media_type,
            header,
            lambda conn: _encoded(repo.suppression_hashes(conn, channel, purpose, timeout), encode),
        )

    async def _audience_lines(
        self, conn: asyncpg.Connection, purpose: str, channel: str, topic: str | None, media: str
    ) -> Lines:
        terms = await repo.purpose_terms(conn, purpose, self.settings.read_timeout_s)
        if terms is None:
            raise UnknownPurpose("There is no purpose with this key.", field="purpose")
        query = repo.AudienceQuery(purpose, channel, topic, datetime.now(UTC))
        basis = terms.legal_basis
        if terms.min_age is None:
            # No rule left for Python: PostgreSQL renders the lines and COPY streams them.
            csv = media == CSV
            lines = self._copy_lines(
                conn,
                lambda output: repo.copy_audience(conn, query, basis, csv, output),
                _csv_line_ends if csv else _as_is,
            )
        else:
            _, encode = line_encoder("subject", media)
            rows = repo.aged_audience(conn, query, basis, self.settings.read_timeout_s)
            lines = _encoded(rows, lambda chunk: encode(self._old_enough_ids(chunk)))
        exported = 0
        try:
            async with contextlib.aclosing(lines):
                async for chunk in lines:
                    exported += chunk.count(b"\n")  # one subject a line
                    yield chunk
        finally:  # a client that hangs up still got the lines sent so far
            check_metrics.AUDIENCE.count(_ALLOWED, exported)

    def _old_enough_ids(self, rows: list[repo.AgedCandidate]) -> list[str]:
        """The subjects of ``rows`` who meet the minimum age, or whose guardian consented."""
        return [row.external_id for row in rows if self._meets_min_age(row)]

    def _meets_min_age(self, row: repo.AgedCandidate) -> bool:
        if row.given_by == "guardian":
            return True
        age = self.ages.age(row.subject_id, row.birth_date_ct, row.kek_id, row.wrapped_dek)
        return age is not None and age >= row.min_age

    async def _export(
        self, media_type: str, header: bytes, lines: Callable[[asyncpg.Connection], Lines]
    ) -> Export:
        """The export, its first rows already read: any failure up to here is a 503."""
        conn = await self._connect()
        body = lines(conn)
        started = False
        try:
            first = await anext(body, None)
            started = True
        except LupaError:
            raise  # e.g. an unknown purpose: the client's mistake, not an outage
        except Exception as exc:
            log.warning("export_unavailable", exc_type=type(exc).__name__)
            raise unavailable_problem() from None
        finally:
            if not started:
                conn.terminate()
        return Export(media_type, self._relay(conn, body, header, first))

    async def _connect(self) -> asyncpg.Connection:
        """A connection of the export's own, in its snapshot; 503 when there is none in time."""
        conn: asyncpg.Connection | None = None
        try:
            async with asyncio.timeout(self.settings.connect_timeout_s):
                conn = await asyncpg.connect(
                    self.settings.dsn,
                    server_settings={
                        "application_name": "lupa-export",
                        # One cursor fetch (or the purpose lookup); COPY lifts it, see copy_lines.
                        "statement_timeout": str(int(self.settings.read_timeout_s * 1000)),
                    },
                )
                await repo.begin_snapshot(conn)
        except Exception as exc:
            if conn is not None:
                conn.terminate()
            log.warning("export_unavailable", exc_type=type(exc).__name__)
            raise unavailable_problem() from None
        return conn

    async def _relay(
        self, conn: asyncpg.Connection, body: Lines, header: bytes, first: bytes | None
    ) -> Lines:
        """The response body: header, the rows read so far, the rest as it comes.

        A failure from here on is re-raised, not ended quietly: the server then closes the
        connection without the final chunk, so the client cannot take the list for complete.
        """
        try:
            if header:
                yield header
            if first is not None:
                yield first
            async for chunk in body:
                yield chunk
        except Exception as exc:
            log.warning("export_aborted", exc_type=type(exc).__name__)
            conn.terminate()
            raise
        finally:
            await body.aclose()
            # Closing ends the read-only transaction too; a failure to close loses nothing.
            with contextlib.suppress(Exception):
                await conn.close(timeout=self.settings.connect_timeout_s)

    async def _copy_lines(
        self,
        conn: asyncpg.Connection,
        copy_to: Callable[[repo.CopyOutput], Awaitable[None]],
        finish: Callable[[bytearray], bytes],
    ) -> Lines:
        """A ``COPY ... TO STDOUT`` (``copy_to``, on ``conn``) relayed one socket read at a time.

        Each read is sent on before the next is taken: when the client reads slowly, the copy
        waits, so memory stays flat (one read, at most a few hundred KiB). Only the wait for
        PostgreSQL's next read is bounded, never the time the client takes.
        """
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()

        async def hand_over(data: bytearray) -> None:
            # One chunk at a time: wait until it has been sent on. asyncpg stops reading the
            # socket meanwhile, so PostgreSQL waits and nothing piles up in this process.
            await queue.put(finish(data))
            await queue.join()

        async def copy() -> None:
            try:
                await copy_to(hand_over)
            finally:
                queue.put_nowait(None)

        task = asyncio.create_task(copy())
        try:
            while (chunk := await self._next_read(queue)) is not None:
                try:
                    yield chunk
                finally:
                    queue.task_done()
            await task  # the end of the data is not the end of the COPY: it may still fail
        finally:
            if not task.done():
                conn.terminate()  # a stalled or abandoned copy: do not wait for the server
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _next_read(self, queue: asyncio.Queue[bytes | None]) -> bytes | None:
        async with asyncio.timeout(self.settings.read_timeout_s):
            return await queue.get()
