"""A real connector on 127.0.0.1 (asyncio streams): records each signed job it is sent and
answers with what its ``answer`` function says for that call."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Seen:
    headers: dict[str, str]
    body: bytes

    @property
    def job(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


Answer = tuple[int, bytes]
Answerer = Callable[[Seen, int], Answer]  # (the call, how many calls of that job before it)


def done(_: Seen, __: int) -> Answer:
    return 200, b'{"status": "done"}'


@dataclass
class Connector:
    answer: Answerer = done
    delay_s: float = 0.0
    seen: list[Seen] = field(default_factory=list)
    server: asyncio.Server | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/lupa"

    def calls_of(self, job_id: str) -> list[Seen]:
        return [s for s in self.seen if s.job["job"] == job_id]

    async def __aenter__(self) -> Connector:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")[1:]
                headers = {
                    k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                seen = Seen(headers, body)
                before = len(self.calls_of(seen.job["job"]))
                self.seen.append(seen)
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                status, payload = self.answer(seen, before)
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
