"""The ``dsar`` client for page tests: redirects are not followed (they are what is tested),
and its cookies (the console session) are cleared after each test. The judge leaves the
pages' answers alone (``tests/openapi_judge.py``: they are not in the OpenAPI document)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def pages(dsar: Any) -> Iterator[Any]:
    # Redirects are part of what is tested (303 after a form, to sign-in without a session).
    follow, dsar.follow_redirects = dsar.follow_redirects, False
    try:
        yield dsar
    finally:
        dsar.follow_redirects = follow
        dsar.cookies.clear()
