"""HTTP as RFC 9110 and RFC 9457 want it, on every route the consent app has.

The paths and their methods come from the app itself, so a route added later is covered too.
Each problem names its occurrence (``instance`` is ``urn:uuid:`` and the request id, never the
route or the path); a 405 says in ``Allow`` which methods the path has, and so does OPTIONS;
HEAD answers like GET without the body, behind the same guards; the 404 and 405 the router
gives itself get a request id and an access-log line like every other answer.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from litestar import Litestar
from structlog.testing import capture_logs

from shared import logging as lupa_logging
from shared.auth.guards import route_roles
from shared.auth.tokens import ROLES
from tests.api.test_role_matrix import fill
from tests.route_table import page_routes

PROBLEM = "application/problem+json"
METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
# Headers that differ between any two answers, whatever the method.
PER_RESPONSE = {"x-request-id", "date"}
# Bodies that count the requests answered so far (the GET before the HEAD among them), so
# their length may differ by a digit between the two; every other header must still agree.
COUNTS_REQUESTS = {"/metrics"}
# A GET that streams or lists: keep it short, and a stream ends at once.
BOUNDED = {"max_seconds": "0", "limit": "1"}


def declared_methods(app: Litestar) -> dict[str, set[str]]:
    """Path (with its parameter types) -> the methods its handlers declare; API only (the web
    pages and /static are left out of the document, so its judge cannot describe them)."""
    methods: dict[str, set[str]] = {}
    pages = page_routes(app)  # web pages and /static: not API, not in the judged document
    for route in app.routes:
        if route.path in pages:
            continue
        for handler in getattr(route, "route_handlers", []):
            if handler.resolve_include_in_schema():
                methods.setdefault(route.path, set()).update(handler.http_methods)
    return methods


def expected_allow(declared: set[str]) -> set[str]:
    """RFC 9110: HEAD wherever GET (§9.3.2), and OPTIONS on every path."""
    return declared | {"OPTIONS"} | ({"HEAD"} if "GET" in declared else set())


def allow_of(resp: Any) -> set[str]:
    return {method.strip() for method in resp.headers["allow"].split(",")}


def concrete(path: str) -> str:
    return fill(path, f"h{uuid.uuid4().hex[:10]}")


def assert_names_this_occurrence(resp: Any) -> dict[str, Any]:
    """A problem whose ``instance`` is ``urn:uuid:`` and the request id of this answer."""
    assert resp.headers["content-type"].startswith(PROBLEM), resp.text
    problem: dict[str, Any] = resp.json()
    request_id = resp.headers["x-request-id"]
    assert str(uuid.UUID(request_id)) == request_id  # a UUID in its canonical form
    assert problem["request_id"] == request_id
    assert problem["instance"] == f"urn:uuid:{request_id}"
    assert resp.request.url.path not in problem["instance"] and "{" not in problem["instance"]
    return problem


@pytest.fixture
def paths(consent_app: Litestar) -> dict[str, set[str]]:
    found = declared_methods(consent_app)
    assert {"GET", "PUT"} <= found["/v1/subjects/{external_id:str}"], "route walk went wrong"
    return found


async def test_an_unknown_path_is_a_404_problem_naming_this_occurrence(consent, auth):
    resp = await consent.get("/v1/nothing-here", headers=auth("admin"))
    assert resp.status_code == 404
    problem = assert_names_this_occurrence(resp)
    assert problem["type"] == "urn:lupa:problem:not-found" and problem["status"] == 404


async def test_a_problem_of_a_route_names_the_occurrence_not_the_route_or_path(consent, auth):
    external_id = f"secret-{uuid.uuid4().hex[:8]}"
    resp = await consent.get(f"/v1/subjects/{external_id}", headers=auth("admin"))
    assert resp.status_code == 404
    problem = assert_names_this_occurrence(resp)
    assert external_id not in resp.text and "external_id" not in problem["instance"]
    first, second = [await consent.get("/v1/nothing-here") for _ in range(2)]
    assert first.json()["instance"] != second.json()["instance"]


async def test_every_wrong_method_on_every_path_is_a_405_problem_with_allow(consent, paths):
    checked = 0
    for path, declared in paths.items():
        allowed = expected_allow(declared)
        for method in sorted(set(METHODS) - allowed):
            resp = await consent.request(method, concrete(path))
            assert resp.status_code == 405, (method, path, resp.status_code)
            assert allow_of(resp) == allowed, (method, path, resp.headers["allow"])
            if method == "HEAD":  # the same problem's headers, without its body
                assert resp.headers["content-type"].startswith(PROBLEM) and resp.content == b""
            else:
                problem = assert_names_this_occurrence(resp)
                assert problem["type"] == "urn:lupa:problem:method-not-allowed"
            checked += 1
    assert checked > len(paths)  # most paths lack several methods


async def test_options_lists_every_method_of_the_path_and_each_one_answers(consent, paths, auth):
    for path, declared in paths.items():
        url = concrete(path)
        resp = await consent.options(url)
        assert resp.status_code == 204, (path, resp.status_code)
        assert allow_of(resp) == expected_allow(declared), (path, resp.headers["allow"])
        for method in allow_of(resp) - {"OPTIONS"}:
            # streamed, so a bounded live stream's empty body is not judged as JSON
            async with consent.stream(method, url, headers=auth("admin"), params=BOUNDED) as answer:
                assert answer.status_code != 405, (method, path)
    subject = await consent.options("/v1/subjects/anyone")
    assert allow_of(subject) == {"GET", "HEAD", "OPTIONS", "PUT"}


def allowed_headers(app: Litestar, auth: Any, method: str, path: str, ext: str) -> dict[str, str]:
    """The headers of a token whose role may call ``method path`` (none for a public route)."""
    roles = {(m, p): r for m, p, r in route_roles(app)}.get((method, path))
    if not roles:
        return {}
    role = "admin" if "admin" in roles else roles[0]
    return auth(role, ext if role == "portal" else None)


def comparable(resp: Any, also: frozenset[str] = frozenset()) -> dict[str, str]:
    """The headers without those that differ per response; ``also``: their values too."""
    return {
        k: ("(varies)" if k in also else v)
        for k, v in resp.headers.items()
        if k not in PER_RESPONSE
    }


async def test_head_answers_like_get_without_a_body_on_every_get_route(consent, consent_app, auth):
    get_paths = [p for p, methods in declared_methods(consent_app).items() if "GET" in methods]
    assert len(get_paths) > 10
    for path in get_paths:
        ext = f"h{uuid.uuid4().hex[:10]}"
        url, headers = fill(path, ext), allowed_headers(consent_app, auth, "GET", path, ext)
        if path.endswith("/stream"):  # a live stream: read like a client would
            async with consent.stream("GET", url, headers=headers, params=BOUNDED) as got:
                await got.aread()
        else:
            got = await consent.get(url, headers=headers, params=BOUNDED)
        head = await consent.head(url, headers=headers, params=BOUNDED)
        assert head.status_code == got.status_code, (path, got.status_code, head.status_code)
        assert got.status_code not in (401, 403, 405), (path, got.status_code)
        live = frozenset({"content-length"} if path in COUNTS_REQUESTS else ())
        assert comparable(head, live) == comparable(got, live), path
        assert head.content == b"", path


async def test_head_goes_through_the_same_guard_as_get(consent, consent_app, auth):
    api = declared_methods(consent_app)
    guarded = [(p, r) for m, p, r in route_roles(consent_app) if m == "GET" and r and p in api]
    assert guarded
    for path, roles in guarded:
        url = concrete(path)
        anonymous = await consent.head(url, params=BOUNDED)
        assert anonymous.status_code == 401, path
        assert anonymous.headers["www-authenticate"] == "Bearer" and anonymous.content == b""
        other = next((role for role in ROLES if role not in roles and role != "portal"), None)
        if other:
            refused = await consent.head(url, headers=auth(other), params=BOUNDED)
            assert refused.status_code == 403 and refused.content == b"", (path, other)


async def test_a_client_request_id_is_kept_when_it_is_a_uuid(consent):
    mine = str(uuid.uuid4())
    resp = await consent.get("/v1/nothing-here", headers={"X-Request-ID": mine.upper()})
    assert resp.headers["x-request-id"] == mine
    assert resp.json()["instance"] == f"urn:uuid:{mine}"
    other = await consent.get("/v1/nothing-here", headers={"X-Request-ID": "my-trace-12345"})
    assert other.headers["x-request-id"] != "my-trace-12345"
    assert_names_this_occurrence(other)


@pytest.fixture
def access_log_at_info() -> Iterator[None]:
    """The access log on (the test settings log at WARNING), restored afterwards."""
    config = structlog.get_config()
    access = lupa_logging._access
    before = (access.as_json, access.enabled, access.stream)
    lupa_logging.configure_logging(json=False, level="INFO")
    yield
    structlog.configure(**config)
    access.configure(*before)


ROUTERS_OWN = [("GET", "/v1/nothing-here", 404), ("DELETE", "/v1/purposes", 405)]


@pytest.mark.parametrize(("method", "path", "status"), ROUTERS_OWN)
async def test_the_routers_own_answers_get_an_access_log_line(
    consent, access_log_at_info, method, path, status
):
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        resp = await consent.request(method, path)
    assert resp.status_code == status
    lines = [e for e in logs if e["event"] == "request"]
    assert lines == [
        {
            "event": "request",
            "log_level": "info",
            "request_id": resp.headers["x-request-id"],
            "method": method,
            "route": "?",  # no route matched: never the raw path
            "status": status,
            "duration_ms": lines[0]["duration_ms"],
        }
    ]
    assert path not in json.dumps(logs)


@pytest.mark.parametrize(("method", "path", "status"), ROUTERS_OWN)
async def test_the_json_access_line_carries_the_request_id(
    consent, access_log_at_info, method, path, status
):
    stream = io.StringIO()
    lupa_logging._access.configure(True, True, stream)
    resp = await consent.request(method, path)
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["request_id"] == resp.headers["x-request-id"] == resp.json()["request_id"]
    assert (line["method"], line["route"], line["status"]) == (method, "?", status)
    assert re.fullmatch(r"[0-9a-f-]{36}", line["request_id"])
