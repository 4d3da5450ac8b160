"""Helpers of the CX dashboard's tests: page requests (not API, so not judged against the
OpenAPI document), feedback rows as the preference centre stores them, and reading the
dashboard's tables."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from html import unescape
from typing import Any

import pytest
import uvicorn

from services.consent.db import subjects as subject_repo
from services.consent.service.erasure import SubjectRights


@pytest.fixture
async def pages(consent: Any) -> AsyncIterator[Any]:
    """The consent client, its OpenAPI judge off while a test asks for pages."""
    document, consent.document = consent.document, None
    try:
        yield consent
    finally:
        consent.document = document
        consent.cookies.clear()  # no session cookie left for the client's other tests


async def erase(session_factory: Any, keyring: Any, external_id: str) -> None:
    async with session_factory() as session, session.begin():
        row = await subject_repo.get_by_external_id(session, external_id)
        assert row is not None
        await SubjectRights(session, keyring).erase(row, {"request": "test"})


def table_rows(html: str, table_id: str) -> list[list[str]]:
    """The cells of each row of the table ``table_id``, as text."""
    found = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert found, f"no table {table_id}"
    rows = re.findall(r"<tr>(.*?)</tr>", found.group(1), re.S)
    return [
        [
            unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)
        ]
        for r in rows
    ]


def cell(html: str, table_id: str, label: str) -> str:
    """The second cell of the row whose first cell is ``label``."""
    for row in table_rows(html, table_id):
        if row and row[0] == label:
            return row[1]
    raise AssertionError(f"no row {label!r} in {table_id}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dsar_server(dsar_settings: Any, keyring: Any) -> Iterator[str]:
    """A DSAR service of its own, served over real HTTP on loopback: its base URL."""
    from services.dsar.app import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(dsar_settings, keyring=keyring),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):  # bounded: start-up takes well under a second
        if server.started:
            break
        threading.Event().wait(0.01)
    assert server.started, "the DSAR server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
