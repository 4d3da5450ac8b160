"""A small HTTP/1.1 load generator: asyncio over raw sockets, keep-alive, N connections.

Why not wrk: it is not installed here and installing system packages is not part of ``make
bench``; a Python client keeps the benchmark runnable anywhere the venv is. Why not httpx: its
per-request overhead (~150 µs) would cap the client below the server. Requests are pre-built
bytes and responses are parsed only as far as ``Content-Length``, so the client costs a few
tens of µs per request. It shares the 2 cores with the server and PostgreSQL; every ratio is
against a baseline measured the same way in the same run, which cancels that cost out.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def get_request(host: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post_request(host: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length) if length else b""


async def _worker(
    host: str,
    port: int,
    requests: itertools.cycle,
    stop_at: float,
    measure_from: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (now := time.perf_counter()) < stop_at:
            writer.write(next(requests))
            status, _ = await read_response(reader)
            done = time.perf_counter()
            if done >= measure_from:
                latencies.append(done - now)
                if status != 200:
                    errors.append(status)
    finally:
        writer.close()


async def run_load(
    host: str,
    port: int,
    requests: Sequence[bytes],
    connections: int,
    seconds: float,
    warmup: float = 1.0,
) -> LoadResult:
    """Drive ``connections`` keep-alive connections for ``warmup + seconds``; measure the end."""
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds
    latencies: list[float] = []
    errors: list[int] = []
    cycle = itertools.cycle(requests)
    await asyncio.gather(
        *(
            _worker(host, port, cycle, stop_at, measure_from, latencies, errors)
            for _ in range(connections)
        )
    )
    latencies.sort()
    n = len(latencies)
    pick = (lambda q: latencies[min(n - 1, int(q * n))] * 1000) if n else (lambda q: 0.0)
    return LoadResult(n, seconds, len(errors), pick(0.50), pick(0.99))


async def fetch_stream(host: str, port: int, request: bytes) -> tuple[int, float]:
    """Read a whole (chunked) response to EOF; returns (bytes read, seconds)."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    writer.write(request)
    size = 0
    while chunk := await reader.read(1 << 20):
        size += len(chunk)
    writer.close()
    return size, time.perf_counter() - started
