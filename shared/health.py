"""Liveness and readiness probes (no authentication, no data)."""

from __future__ import annotations

import asyncio

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

ENGINE_KEY = "engine"


class HealthController(Controller):
    path = "/health"
    tags = ["health"]
    opt = {"public": True}

    @get("/live", opt={"database": False}, summary="The process is up")
    async def live(self) -> dict[str, str]:
        return {"status": "ok"}

    @get(
        "/ready",
        # Its own 503 body, not a problem: probes read the status and nothing else.
        responses={503: ResponseSpec(dict[str, str], description="The database is unreachable")},
        summary="The process can reach its database",
    )
    async def ready(self, state: State) -> Response[dict[str, str]]:
        engine: AsyncEngine = state[ENGINE_KEY]
        try:
            async with asyncio.timeout(2):
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception:
            return Response({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return Response({"status": "ok", "database": "ok"})
