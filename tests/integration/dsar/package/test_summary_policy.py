"""The summary page keeps its own styles (it must work as a saved file) without allowing
inline styles in general: its policy admits exactly its ``<style>`` block by hash (CSP3)."""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser

from tests.integration.dsar.package.test_officer_download import _completed_with_package


class StyleBlocks(HTMLParser):
    def __init__(self, markup: str) -> None:
        super().__init__()
        self.blocks: list[str] = []
        self._in_style = False
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        if self._in_style:
            self.blocks.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.blocks[-1] += data


async def test_the_summary_policy_admits_only_its_own_style_block(
    dsar, auth, session_factory, keyring
):
    request_id = await _completed_with_package(session_factory, keyring)
    page = await dsar.get(
        f"/v1/requests/{request_id}/package", params={"format": "html"}, headers=auth("admin")
    )
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    [block] = StyleBlocks(page.text).blocks
    digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["style-src"] == f"'sha256-{digest}'"
    assert directives["default-src"] == "'none'"  # no script, no other source
