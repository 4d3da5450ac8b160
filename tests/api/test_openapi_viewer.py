"""The OpenAPI viewer at /schema loads nothing from elsewhere: every script, style sheet and
icon it names is served by the service itself (the page works offline)."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest


class Resources(HTMLParser):
    """Every URL the page makes the browser fetch: scripts, style sheets, icons, images."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href"):
            url = found.get(name)
            if url and (tag in ("script", "img") or (tag == "link" and name == "href")):
                self.urls.append(url)


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
async def test_the_viewer_needs_nothing_from_outside(consent, page):
    shown = await consent.get(page)
    assert shown.status_code == 200 and shown.headers["content-type"].startswith("text/html")
    urls = Resources(shown.text).urls
    assert any(u.endswith(".js") for u in urls) and any(u.endswith(".css") for u in urls)
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url} from elsewhere"
        fetched = await consent.get(url)
        assert fetched.status_code == 200 and fetched.content, url
    assert "Lupa consent service" in shown.text  # it shows this service's document, inline
