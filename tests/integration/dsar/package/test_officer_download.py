"""An officer downloads a completed request's package as JSON or as its summary page; every
download is an audit event naming the officer's token, never the person."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator

from services.dsar.service.packages import build_and_store
from tests.integration.dsar.package.seed import events_of, seed_request
from tests.unit.dsar.package.samples import CONTROLLER, consent_data

SCHEMA_FILE = (
    Path(__file__).resolve().parents[4] / "services/dsar/schemas/access-package.schema.json"
)


async def _completed_with_package(session_factory, keyring, **kw):
    request_id = await seed_request(
        session_factory, keyring, [("consent", "done", None, consent_data())], **kw
    )
    async with session_factory() as session, session.begin():
        await build_and_store(session, keyring, request_id, CONTROLLER)
    return request_id


async def test_the_officer_gets_the_json_package_and_the_download_is_audited(
    dsar, auth, session_factory, keyring
):
    request_id = await _completed_with_package(session_factory, keyring)
    response = await dsar.get(f"/v1/requests/{request_id}/package", headers=auth("officer"))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    package = response.json()
    assert package["request"]["id"] == str(request_id)
    Draft202012Validator(json.loads(SCHEMA_FILE.read_text())).validate(package)
    (event,) = await events_of(session_factory, request_id, "package.downloaded")
    assert event["by"] == "officer" and event["role"] == "officer"
    assert event["actor"].startswith("officer:") and event["format"] == "json"
    assert "maija" not in json.dumps(event)


async def test_the_summary_page_comes_with_format_html(dsar, auth, session_factory, keyring):
    request_id = await _completed_with_package(session_factory, keyring, locale="sv")
    response = await dsar.get(
        f"/v1/requests/{request_id}/package", params={"format": "html"}, headers=auth("admin")
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Dina personuppgifter" in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]
    (event,) = await events_of(session_factory, request_id, "package.downloaded")
    assert event["format"] == "html" and event["role"] == "admin"


async def test_no_package_before_completion_or_for_an_erasure(dsar, auth, session_factory, keyring):
    open_id = await seed_request(session_factory, keyring, [], status="in_progress")
    erasure_id = await seed_request(session_factory, keyring, [], type_="erasure")
    for request_id in (open_id, erasure_id):
        response = await dsar.get(f"/v1/requests/{request_id}/package", headers=auth("officer"))
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert await events_of(session_factory, request_id, "package.downloaded") == []


async def test_other_roles_may_not_download_a_package(dsar, auth, session_factory, keyring):
    request_id = await _completed_with_package(session_factory, keyring)
    for role in ("cx", "marketing", "portal"):
        response = await dsar.get(f"/v1/requests/{request_id}/package", headers=auth(role))
        assert response.status_code == 403
    assert (await dsar.get(f"/v1/requests/{request_id}/package")).status_code == 401
    assert await events_of(session_factory, request_id, "package.downloaded") == []


async def test_the_schema_is_published(dsar):
    response = await dsar.get("/v1/schemas/access-package.json")
    assert response.status_code == 200
    assert response.json() == json.loads(SCHEMA_FILE.read_text())
    Draft202012Validator.check_schema(response.json())


async def test_an_unknown_format_is_refused_before_anything_is_read(
    dsar, auth, session_factory, keyring
):
    request_id = await _completed_with_package(session_factory, keyring)
    response = await dsar.get(
        f"/v1/requests/{request_id}/package", params={"format": "pdf"}, headers=auth("officer")
    )
    assert response.status_code == 422
    assert await events_of(session_factory, request_id, "package.downloaded") == []
