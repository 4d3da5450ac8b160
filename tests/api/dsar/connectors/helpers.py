"""Shared bits of the connector registry tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from shared.audit.webhooks import new_secret


def connector_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "url": "https://crm.example.test/lupa/jobs",
        "secret": new_secret(),
        "actions": ["access", "erasure"],
    }
    return {**body, **overrides}


async def connector_events(session_factory: Any, name: str) -> list[tuple[str, dict[str, Any]]]:
    """(type, data) of every audit event about connector ``name``, oldest first."""
    async with session_factory() as session:
        rows = await session.execute(
            text(
                "SELECT type, data FROM audit_events "
                "WHERE type LIKE 'fi.lupa.dsar.connector.%' AND data->>'name' = :n "
                "ORDER BY time, id"
            ),
            {"n": name},
        )
        return [(r.type.removeprefix("fi.lupa.dsar."), r.data) for r in rows]
