"""Hostile bodies and parameters on every route: a problem, never a 500, and nothing written.

The JSON-body routes come from the app's own route handlers (those taking ``data``) and the
string query parameters from its OpenAPI document, so a route added later is covered: it
fails ``test_every_json_route_has_a_sample`` until it gets a valid sample body here.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import text

from tests.route_table import consent_app

PROBLEM = "application/problem+json"
PARAM = re.compile(r"\{(\w+):(\w+)\}")
APP = consent_app()


def json_body_routes() -> list[tuple[str, str]]:
    found = []
    for route in APP.routes:
        for handler in getattr(route, "route_handlers", []):
            if "data" in handler.parsed_fn_signature.parameters:
                found += [(method, route.path) for method in sorted(handler.http_methods)]
    return sorted(found)


def string_query_params() -> list[tuple[str, str]]:
    """(path, name) of every string query parameter of a GET route."""
    found = []
    for path, operations in APP.openapi_schema.to_schema()["paths"].items():
        for param in operations.get("get", {}).get("parameters", []):
            schema = param["schema"]
            types = [schema.get("type")] + [s.get("type") for s in schema.get("oneOf", [])]
            if param["in"] == "query" and "string" in types:
                found.append((path, param["name"]))
    return found


JSON_ROUTES = json_body_routes()
WRONG_CONTENT_TYPES = [
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    None,
    "application/json; charset=utf-16",
]


@pytest.fixture
async def world(consent, auth, new_id) -> dict[str, str]:
    """A purpose and a subject (with fresh preferences) the sample bodies refer to."""
    key, ext = new_id("badin"), new_id("cust")
    purpose = {"legal_basis": "consent", "title": {"en": "News"}, "channels": ["email"]}
    assert (
        await consent.put(f"/v1/purposes/{key}", json=purpose, headers=auth("admin"))
    ).status_code in (200, 201)
    subject = await consent.put(f"/v1/subjects/{ext}", json={"locale": "fi"}, headers=auth("admin"))
    assert subject.status_code == 201
    return {"key": key, "ext": ext, "fresh": new_id("cust"), "new_key": new_id("badin")}


def sample(method: str, path: str, w: dict[str, str]) -> tuple[str, dict[str, Any], dict[str, str]]:
    """(url, a valid body, extra headers) for one JSON route."""
    samples: dict[tuple[str, str], tuple[str, dict[str, Any], dict[str, str]]] = {
        ("POST", "/v1/audit/webhooks"): (
            "/v1/audit/webhooks",
            {"url": "http://127.0.0.1:9/hook", "types": ["fi.lupa.consent.purpose.created"]},
            {},
        ),
        ("PUT", "/v1/purposes/{key:str}"): (
            f"/v1/purposes/{w['new_key']}",
            {"legal_basis": "consent", "title": {"en": "News"}, "channels": ["email"]},
            {},
        ),
        ("PATCH", "/v1/subjects/{external_id:str}/preferences"): (
            f"/v1/subjects/{w['ext']}/preferences",
            {"language": "sv"},
            {"If-Match": '"0"'},
        ),
        ("PUT", "/v1/subjects/{external_id:str}"): (
            f"/v1/subjects/{w['fresh']}",
            {"locale": "fi"},
            {},
        ),
        ("POST", "/v1/subjects/lookup"): ("/v1/subjects/lookup", {"email": "a@example.com"}, {}),
        ("POST", "/v1/subjects/{external_id:str}/consents"): (
            f"/v1/subjects/{w['ext']}/consents",
            {"purpose": w["key"], "channel": "email", "action": "grant"},
            {},
        ),
        ("POST", "/v1/check/batch"): (
            "/v1/check/batch",
            {"purpose": w["key"], "channel": "email", "subjects": [w["ext"]]},
            {},
        ),
        ("POST", "/v1/unsubscribe-links"): (
            "/v1/unsubscribe-links",
            {"purpose": w["key"], "channel": "email", "subjects": [w["ext"]]},
            {},
        ),
    }
    return samples[(method, path)]


def test_every_json_route_has_a_sample():
    w = {"key": "k", "ext": "e", "fresh": "f", "new_key": "n"}
    assert len(JSON_ROUTES) >= 8, JSON_ROUTES
    for method, path in JSON_ROUTES:
        sample(method, path, w)  # KeyError: add a valid body for the new route above


async def written(session_factory) -> tuple[int, ...]:
    """Row counts of every table a write on these routes touches (each write is audited)."""
    async with session_factory() as session:
        row = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM audit_events), "
                    "(SELECT count(*) FROM consent_events), (SELECT count(*) FROM subjects), "
                    "(SELECT count(*) FROM purposes), (SELECT count(*) FROM webhook_subscriptions)"
                )
            )
        ).one()
    return tuple(row)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_body(body: dict[str, Any], depth: int) -> bytes:
    """The valid body with one more member nested ``depth`` lists deep."""
    return json.dumps(body).encode()[:-1] + b', "deep": ' + nested(depth) + b"}"


def invalid_utf8_body(body: dict[str, Any]) -> bytes:
    """The valid body with an invalid UTF-8 byte inside its first string value."""
    name = next(k for k, v in body.items() if isinstance(v, str))
    marked = {**body, name: body[name] + "MARK"}
    return json.dumps(marked).encode().replace(b"MARK", b"\xff")


def duplicate_body(body: dict[str, Any]) -> tuple[str, bytes]:
    """The valid body with its first member given twice (same value: only the repeat is wrong)."""
    name = next(iter(body))
    return name, json.dumps(body).encode()[:-1] + f", {json.dumps(name)}: ".encode() + (
        json.dumps(body[name]).encode() + b"}"
    )


async def send(consent, auth, method, url, headers, content, content_type="application/json"):
    all_headers = {**auth("admin"), **headers}
    if content_type is not None:
        all_headers["content-type"] = content_type
    return await consent.request(method, url, content=content, headers=all_headers)


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
async def test_the_sample_body_is_accepted_as_json(consent, auth, world, method, path):
    url, body, headers = sample(method, path, world)
    resp = await send(
        consent, auth, method, url, headers, json.dumps(body), "application/json; charset=UTF-8"
    )
    assert resp.status_code < 300, resp.text


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
@pytest.mark.parametrize("case", ["deep-100", "deep-1000", "invalid-utf8"])
async def test_an_unreadable_body_is_400_and_writes_nothing(
    consent, auth, world, session_factory, method, path, case
):
    url, body, headers = sample(method, path, world)
    content = invalid_utf8_body(body) if case == "invalid-utf8" else deep_body(body, 100)
    if case == "deep-1000":
        content = deep_body(body, 1000)
    before = await written(session_factory)
    resp = await send(consent, auth, method, url, headers, content)
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    assert resp.json()["type"] == "urn:lupa:problem:bad-request"
    assert await written(session_factory) == before


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
@pytest.mark.parametrize("content_type", WRONG_CONTENT_TYPES)
async def test_a_body_that_is_not_json_is_415_and_writes_nothing(
    consent, auth, world, session_factory, method, path, content_type
):
    url, body, headers = sample(method, path, world)
    before = await written(session_factory)
    resp = await send(consent, auth, method, url, headers, json.dumps(body), content_type)
    assert resp.status_code == 415, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    assert resp.json()["type"] == "urn:lupa:problem:unsupported-media-type"
    assert await written(session_factory) == before


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
async def test_a_duplicated_member_is_422_naming_it(
    consent, auth, world, session_factory, method, path
):
    url, body, headers = sample(method, path, world)
    name, content = duplicate_body(body)
    before = await written(session_factory)
    resp = await send(consent, auth, method, url, headers, content)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    problem = resp.json()
    assert problem["type"] == "urn:lupa:problem:invalid-input"
    assert [e["field"] for e in problem["errors"]] == [name]
    assert json.dumps(body[name]) not in resp.text
    assert await written(session_factory) == before


async def test_a_duplicate_email_in_a_subject_is_refused(consent, auth, new_id):
    ext = new_id("cust")
    resp = await send(
        consent, auth, "PUT", f"/v1/subjects/{ext}", {}, b'{"email": "a@x.fi", "email": "b@x.fi"}'
    )
    assert resp.status_code == 422
    assert [e["field"] for e in resp.json()["errors"]] == ["email"]
    assert "a@x.fi" not in resp.text and "b@x.fi" not in resp.text
    assert (await consent.get(f"/v1/subjects/{ext}", headers=auth("admin"))).status_code == 404


async def test_a_merge_patch_body_is_accepted_on_patch(consent, auth, world):
    url = f"/v1/subjects/{world['ext']}/preferences"
    headers = {"If-Match": '"0"'}
    resp = await send(
        consent, auth, "PATCH", url, headers, b'{"language": "sv"}', "application/merge-patch+json"
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["language"] == "sv"


async def test_the_one_click_form_still_unsubscribes(consent, auth, world):
    links = await consent.post(
        "/v1/unsubscribe-links",
        json={"purpose": world["key"], "channel": "email", "subjects": [world["ext"]]},
        headers=auth("admin"),
    )
    grant = await consent.post(
        f"/v1/subjects/{world['ext']}/consents",
        json={"purpose": world["key"], "channel": "email", "action": "grant"},
        headers=auth("admin"),
    )
    assert grant.status_code == 201, grant.text
    url = links.json()["links"][0]["url"].removeprefix("http://testserver.local")
    resp = await consent.post(url, data={"List-Unsubscribe": "One-Click"})
    assert resp.status_code == 200, resp.text


def query_for(path: str, w: dict[str, str]) -> dict[str, str]:
    """Valid values for the route's required parameters, so the NUL is the only fault."""
    if path in ("/v1/check", "/v1/audience"):
        return {"subject": w["ext"], "purpose": w["key"], "channel": "email"}
    if path == "/v1/suppression":
        return {"channel": "email"}
    return {"max_seconds": "0", "limit": "1"}


@pytest.mark.parametrize(("path", "name"), string_query_params())
@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x85"])
async def test_a_control_character_in_a_query_parameter_is_422(
    consent, auth, world, path, name, character
):
    params = {**query_for(path, world), name: f"x{character}"}
    if path == "/v1/audience":
        params.pop("subject")
    resp = await consent.get(path, params=params, headers=auth("admin"))
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    problem = resp.json()
    assert problem["type"] == "urn:lupa:problem:invalid-input"
    assert problem["errors"] == [{"field": name, "message": "must not hold control characters"}]


def test_the_audit_feed_type_filter_is_among_the_checked_parameters():
    assert ("/v1/audit/events", "type") in string_query_params()


@pytest.mark.parametrize(
    ("url", "name"),
    [("/v1/subjects/a%00b", "external_id"), ("/v1/purposes/a%1bb/versions", "key")],
)
async def test_a_control_character_in_a_path_parameter_is_422_naming_it(consent, auth, url, name):
    resp = await consent.get(url, headers=auth("admin"))
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    assert [e["field"] for e in resp.json()["errors"]] == [name]


async def test_a_control_character_in_a_query_parameter_name_is_422(consent, auth):
    resp = await consent.get("/v1/audit/events?ty%00pe=x", headers=auth("admin"))
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == ["query"]


async def test_non_ascii_parameters_are_not_mistaken_for_control_characters(consent, auth):
    # "Ā" is C4 80 in UTF-8: read as Latin-1 its second byte would be the C1 control U+0080.
    resp = await consent.get(
        "/v1/audit/events", params={"subject": "Āäö", "limit": "1"}, headers=auth("admin")
    )
    assert resp.status_code == 200, resp.text
