"""Liveness and readiness probes (no authentication, no data)."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.errors import Unavailable
from shared.problems import problem_response

ENGINE_KEY = "engine"


class HealthController(Controller):
    path = "/health"
    tags = ["health"]
    opt = {"public": True}

    @get("/live", opt={"database": False}, summary="The process is up")
    async def live(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/ready", summary="The process can reach its database")
    async def ready(self, state: State, request: Request[Any, Any, Any]) -> Response[Any]:
        engine: AsyncEngine = state[ENGINE_KEY]
        try:
            async with asyncio.timeout(2):
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception:
            # A problem like every other error, with the probe's own detail kept.
            return problem_response(
                503,
                Unavailable.slug,
                Unavailable.title,
                "The database is not reachable.",
                request,
                database="unreachable",
            )
        return Response({"status": "ok", "database": "ok"})
