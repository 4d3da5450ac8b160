from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from shared.auth.tokens import issue_metrics_token
from shared.keys import Keyring


@pytest.fixture(scope="session")
def metrics_headers(keyring: Keyring) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_metrics_token(keyring, 3600)}"}


@pytest.fixture
def scrape(metrics_headers: dict[str, str]) -> Callable[..., Awaitable[str]]:
    """``await scrape(client)`` -> the exposition text, asserting a 200 in Prometheus' format."""

    async def read(client) -> str:  # type: ignore[no-untyped-def]
        resp = await client.get("/metrics", headers=metrics_headers)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("text/plain")
        return str(resp.text)

    return read
