"""A request the HTTP parser cannot read (a request line over its limit, raw non-ASCII bytes)
never reaches the application: the server answers it, and under Lupa's protocol that answer is
an RFC 9457 problem like every other error, not uvicorn's text/plain."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid

import pytest
import uvicorn

from shared.http_server import ProblemHttpToolsProtocol


async def app(scope, receive, send):  # never reached by the requests below
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def server_port():
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=ProblemHttpToolsProtocol, log_level="error"
    )
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    for _ in range(200):  # bounded: 2 s
        if server.started:
            break
        await asyncio.sleep(0.01)
    yield port
    server.should_exit = True
    await task


async def exchange(port: int, raw: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines)}
    return status, headers, body


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n",
    ],
    ids=["request-line-over-the-limit", "raw-non-ascii", "broken-header"],
)
async def test_an_unparseable_request_gets_a_problem(server_port, raw):
    status, headers, body = await exchange(server_port, raw)
    assert status.startswith(b"HTTP/1.1 400")
    assert headers[b"content-type"] == b"application/problem+json"
    problem = json.loads(body)
    assert problem["type"] == "urn:lupa:problem:bad-request" and problem["status"] == 400
    assert problem["request_id"] == headers[b"x-request-id"].decode()
    assert problem["instance"] == f"urn:uuid:{uuid.UUID(problem['request_id'])}"
    assert b"caf" not in body and b"aaaa" not in body  # nothing of the request is echoed
