"""RFC 8058 wants HTTPS unsubscribe links: a non-HTTPS public URL on a real host is warned
about at start-up; HTTPS and loopback development set-ups are not."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from shared.app_base import warn_unless_https


@pytest.mark.parametrize(
    "url", ["http://lupa.example.com", "http://10.0.0.5:8000", "ftp://lupa.example.com"]
)
def test_a_plain_http_public_url_is_warned_about(url: str) -> None:
    with capture_logs() as logs:
        assert warn_unless_https(url)
    [entry] = logs
    assert entry["event"] == "public_url_not_https" and entry["log_level"] == "warning"


@pytest.mark.parametrize(
    "url",
    [
        "https://lupa.example.com",
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        "http://[::1]:8000",
    ],
)
def test_https_and_loopback_are_fine(url: str) -> None:
    with capture_logs() as logs:
        assert not warn_unless_https(url)
    assert logs == []
