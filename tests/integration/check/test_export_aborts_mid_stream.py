"""An export the database cuts off mid-way reaches the client as an incomplete transfer.

Served by a real uvicorn: once the first lines are out, the export's PostgreSQL backend is
terminated. The body must then end without its final chunk, so no HTTP client can take the
lines it got for the whole list.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import uvicorn

from services.consent.app import create_app
from tests.integration.check.population import add_guardian_audience

ROWS = 60_000
# Long ids make a large body (~8 MiB) from few rows: more than the buffers between PostgreSQL
# and the export can hold (a few MiB of socket buffers), so the export is still running when
# its backend goes. Between the service and the client, buffers are kept small.
PREFIX = "cut-" + "x" * 100 + "-"
SMALL_BUFFER = 16 * 1024


@pytest.fixture(scope="module")
async def long_audience(database_url: str) -> str:
    """A purpose granted (by guardians, so a minimum age passes too) to ``ROWS`` subjects."""
    purpose = f"cut{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(database_url)
    try:
        await add_guardian_audience(conn, purpose, f"{PREFIX}{purpose}-", ROWS)
    finally:
        await conn.close()
    return purpose


@pytest.fixture
async def served(consent_settings, keyring) -> AsyncIterator[str]:
    """The consent service behind a real uvicorn on this loop; yields its base URL.

    Its socket's send buffer is small (accepted sockets inherit it from the listener), so what
    the client does not read soon holds up the export instead of piling up in the kernel.
    """
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
    listener.bind(("127.0.0.1", 0))
    app = create_app(consent_settings, keyring=keyring)
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical"))
    task = asyncio.ensure_future(server.serve(sockets=[listener]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        listener.close()


def slow_reader(base: str) -> httpx.AsyncClient:
    """A client with a small receive buffer: what it does not read backs up to the server."""
    transport = httpx.AsyncHTTPTransport(
        socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)]
    )
    return httpx.AsyncClient(base_url=base, transport=transport, timeout=30)


async def export_backend(database_url: str, until_state: str | None = None) -> int:
    """The export's backend pid, once its wait event is ``until_state`` (polled, fresh reads)."""
    watcher = await asyncpg.connect(database_url)
    try:
        for _ in range(1000):
            row = await watcher.fetchrow(
                "SELECT pid, state, wait_event FROM pg_stat_activity"
                " WHERE application_name = 'lupa-export'"
            )
            if row is not None and row["state"] == "idle":
                raise AssertionError("the export finished before it could be cut off")
            if row is not None and until_state in (None, row["wait_event"]):
                return int(row["pid"])
            await asyncio.sleep(0.01)
    finally:
        await watcher.close()
    raise AssertionError(f"the export's backend never reached {until_state}")


async def cut_off_mid_stream(
    base: str, auth, database_url: str, purpose: str, until_state: str | None
) -> int:
    """Lines received before the transfer failed; fails the test if it completed."""
    received = b""
    async with slow_reader(base) as client:
        params = {"purpose": purpose, "channel": "email"}
        async with client.stream(
            "GET", "/v1/audience", params=params, headers=auth("marketing")
        ) as resp:
            assert resp.status_code == 200
            chunks = resp.aiter_raw()
            received += await anext(chunks)
            pid = await export_backend(database_url, until_state)
            terminator = await asyncpg.connect(database_url)
            try:
                await terminator.execute("SELECT pg_terminate_backend($1)", pid)
            finally:
                await terminator.close()
            with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
                async for chunk in chunks:
                    received += chunk
    return received.count(b"\n")


# COPY path (no minimum age): PostgreSQL is blocked writing to the export (ClientWrite), so the
# COPY is certainly unfinished. Cursor path (a minimum age): between fetches the backend waits
# for the next FETCH (ClientRead); the client holds off reading, so most of the list is still
# to be fetched.
@pytest.mark.parametrize(("min_age", "wait_event"), [(None, "ClientWrite"), (16, "ClientRead")])
async def test_an_export_cut_off_by_the_database_is_an_incomplete_transfer(
    served, long_audience, auth, database_url, min_age, wait_event
):
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE purposes SET min_age = $2 WHERE key = $1", long_audience, min_age
        )
    finally:
        await conn.close()
    lines = await cut_off_mid_stream(served, auth, database_url, long_audience, wait_event)
    assert 0 < lines < ROWS
