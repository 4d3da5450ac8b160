"""Requests that really run at the same time, against the app the ``consent`` fixture serves.

``AsyncTestClient`` hands each request to the event loop that serves the app and blocks until
the response is complete, so ``asyncio.gather`` over it runs one request after another. Here a
batch goes through ``httpx.ASGITransport`` *on that same loop* (the app's engine and pools
belong to it, so a second loop could not share them), where the requests interleave at every
await, as under a real server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from litestar.types import Receive, Scope, Send

from tests.openapi_judge import judge_all


class _InFlight:
    """The app, counting how many requests it is serving at once."""

    def __init__(self, app: Litestar) -> None:
        self.app = app
        self.now = 0
        self.most = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            self.now -= 1


@dataclass(frozen=True)
class Race:
    responses: list[httpx.Response]
    most_in_flight: int  # the peak number of requests the app was serving together

    def statuses(self) -> list[int]:
        return sorted(r.status_code for r in self.responses)


async def race(consent: AsyncTestClient[Litestar], requests: Iterable[httpx.Request]) -> Race:
    """Send every request at once; build them with ``consent.build_request(...)``."""
    batch = list(requests)
    app = _InFlight(consent.app)

    async def send_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport) as client:
            return await asyncio.gather(*(client.send(r) for r in batch))

    portal: Any = consent.blocking_portal
    responses = await asyncio.wrap_future(portal.start_task_soon(send_all))
    document = getattr(consent, "document", None)
    if document is not None:  # the judged client of tests/conftest.py: race answers too
        judge_all(document, responses)
    return Race(responses, app.most)
