"""The requester's download link works exactly once, until it expires; a used, expired or
forged link gets a clear problem and changes nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from services.dsar.service.downloads import download_by_link, mint_download_link
from services.dsar.service.packages import build_and_store
from shared.audit.outbox import AuditEvent, record_event
from shared.errors import LinkExpired, NotFound
from tests.integration.dsar.package.seed import events_of, seed_request
from tests.unit.dsar.package.samples import CONTROLLER, consent_data

BASE = "http://dsar.testserver.local"


async def _link(session_factory, keyring, ttl_s: int = 3600) -> tuple[object, str]:
    request_id = await seed_request(
        session_factory, keyring, [("consent", "done", None, consent_data())], locale="en"
    )
    async with session_factory() as session, session.begin():
        await build_and_store(session, keyring, request_id, CONTROLLER)
        url = await mint_download_link(session, keyring, request_id, ttl_s, base_url=BASE)
    assert url.startswith(f"{BASE}/v1/downloads/")
    return request_id, urlsplit(url).path


async def test_a_link_downloads_the_package_once(dsar, session_factory, keyring):
    request_id, path = await _link(session_factory, keyring)
    first = await dsar.get(path)
    assert first.status_code == 200
    assert first.json()["request"]["id"] == str(request_id)
    again = await dsar.get(path)
    assert again.status_code == 410
    assert again.headers["content-type"] == "application/problem+json"
    assert "already been used" in again.json()["detail"]
    assert await events_of(session_factory, request_id, "package.downloaded") == [
        {"by": "requester_link", "link": _link_id(path), "format": "json"}
    ]


def _link_id(path: str) -> str:
    token = path.rsplit("/", 1)[1]
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]


async def test_the_html_download_is_the_summary_carrying_the_json(dsar, session_factory, keyring):
    request_id, path = await _link(session_factory, keyring)
    page = await dsar.get(path, params={"format": "html"})
    assert page.status_code == 200 and "Your personal data" in page.text
    embedded = re.search(r'href="data:application/json;base64,([^"]+)"', page.text)
    assert embedded is not None
    assert json.loads(base64.b64decode(embedded.group(1)))["request"]["id"] == str(request_id)
    assert (await dsar.get(path)).status_code == 410  # the one use covered both


async def test_an_expired_link_is_gone_and_stays_unused(dsar, session_factory, keyring):
    request_id, path = await _link(session_factory, keyring, ttl_s=-5)
    response = await dsar.get(path)
    assert response.status_code == 410
    assert "expired" in response.json()["detail"]
    await _assert_unused(session_factory, request_id)


async def test_a_link_past_its_stored_expiry_is_refused(dsar, session_factory, keyring):
    request_id, path = await _link(session_factory, keyring)
    async with session_factory() as session, session.begin():
        await session.execute(
            text(
                "UPDATE dsar_download_links SET expires_at = now() - interval '1 second'"
                " WHERE request_id = :id"
            ),
            {"id": request_id},
        )
        await record_event(session, AuditEvent("dsar", "test.expired", str(request_id), {}))
    assert (await dsar.get(path)).status_code == 410
    await _assert_unused(session_factory, request_id)


async def test_a_tampered_or_foreign_token_is_not_a_link(dsar, session_factory, keyring, token):
    request_id, path = await _link(session_factory, keyring)
    head, payload, signature = path.rsplit("/", 1)[1].split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["exp"] += 86400
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    for bad in (f"{head}.{forged_payload}.{signature}", token("officer"), "not-a-token"):
        response = await dsar.get(f"/v1/downloads/{bad}")
        assert response.status_code == 404, bad
    await _assert_unused(session_factory, request_id)
    assert (await dsar.get(path)).status_code == 200  # the real link still works


async def test_two_downloads_racing_for_one_link_give_it_once(session_factory, keyring):
    request_id, path = await _link(session_factory, keyring)
    link_token = path.rsplit("/", 1)[1]

    async def download() -> str:
        try:
            async with session_factory() as session, session.begin():
                await download_by_link(session, keyring, link_token, "json")
            return "ok"
        except LinkExpired:
            return "gone"

    assert sorted(await asyncio.gather(download(), download())) == ["gone", "ok"]
    assert len(await events_of(session_factory, request_id, "package.downloaded")) == 1


async def test_no_link_for_a_request_without_a_package(session_factory, keyring):
    request_id = await seed_request(session_factory, keyring, [], status="in_progress")
    async with session_factory() as session, session.begin():
        with pytest.raises(NotFound):
            await mint_download_link(session, keyring, request_id, base_url=BASE)


async def _assert_unused(session_factory, request_id) -> None:
    async with session_factory() as session:
        used = await session.scalar(
            text("SELECT used_at FROM dsar_download_links WHERE request_id = :id"),
            {"id": request_id},
        )
    assert used is None
    assert await events_of(session_factory, request_id, "package.downloaded") == []
