"""The console and request-form pages are not API operations (they are left out of the
OpenAPI document), so their answers are not judged against it; the same ``dsar`` client,
whose cookies (the console session) are cleared after each test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def pages(dsar: Any) -> Iterator[Any]:
    # Redirects are part of what is tested (303 after a form, to sign-in without a session).
    document, dsar.document = dsar.document, None
    follow, dsar.follow_redirects = dsar.follow_redirects, False
    try:
        yield dsar
    finally:
        dsar.document, dsar.follow_redirects = document, follow
        dsar.cookies.clear()
