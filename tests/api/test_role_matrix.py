"""Every route of both services and every role: no token 401, wrong role 403, right role
never 401/403, never 500.

The routes come from the app itself (``route_roles``), so a route added later is checked too.
Path parameters get random valid-looking values; the bodies are empty, so an allowed role may
well get 400/404/409/412/422/428 — but never a refusal of who it is, and never a 500.
"""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar

from shared.auth.guards import route_roles
from shared.auth.tokens import ROLES
from tests.route_table import is_page

PARAM = re.compile(r"\{(\w+):(\w+)\}")
WRITES = {"POST", "PUT", "PATCH"}
# Authenticated by a Standard Webhooks signature, not a bearer token (tests/api/connector/).
# Authenticated by a Standard Webhooks signature, not a bearer token: their own tests cover it.
SIGNED_ROUTES = {("POST", "/v1/connector"), ("POST", "/v1/jobs/{job_id:uuid}/callback")}
NO_SUBJECT = ""  # a ``requires`` guard without subject_param: the route holds no one subject's data


def subject_params(app: Litestar) -> dict[tuple[str, str], str | None]:
    """(method, path) -> the path parameter a portal token must match; ``NO_SUBJECT`` if none;
    ``None`` when the guard leaves the subject check to the handler (e.g. receipts)."""
    out: dict[tuple[str, str], str | None] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            param = None
            for guard in handler.resolve_guards():
                guard = getattr(guard, "func", guard)  # Litestar wraps sync guards
                nonlocals = inspect.getclosurevars(guard).nonlocals
                if "subject_param" in nonlocals:
                    param = nonlocals["subject_param"] or NO_SUBJECT
            for method in getattr(handler, "http_methods", ()):
                out[(method, route.path)] = param
    return out


def fill(path: str, value: str) -> str:
    """Put ``value`` in every str path parameter and a fitting random value in the others."""

    def one(match: re.Match[str]) -> str:
        kind = match.group(2)
        return {"uuid": str(uuid.uuid4()), "int": "7"}.get(kind, value)

    return PARAM.sub(one, path)


# service -> a route it must have guarded, proving the walk found its routes
SERVICES = {"consent": "/v1/subjects", "dsar": "/v1/requests"}


@pytest.fixture(params=sorted(SERVICES))
def service(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def routes(
    service: str, request: pytest.FixtureRequest
) -> list[tuple[str, str, tuple[str, ...] | None, str | None]]:
    app: Litestar = request.getfixturevalue(f"{service}_app")
    params = subject_params(app)
    found = [
        (m, p, roles, params.get((m, p)))
        for m, p, roles in route_roles(app)
        if (m, p) not in SIGNED_ROUTES
    ]
    assert any(p.startswith(SERVICES[service]) and roles for _, p, roles, _ in found), (
        "the route walk found no guarded routes of the service"
    )
    return found


def page_paths(app: Litestar) -> list[re.Pattern[str]]:
    """The web pages' routes (not API, so not in the OpenAPI document the client judges by)."""
    return [
        re.compile(PARAM.sub("[^/]+", route.path))
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if is_page(handler)
    ]


@pytest.fixture
def call(service: str, request: pytest.FixtureRequest) -> Callable[..., Any]:
    client = request.getfixturevalue(service)
    pages = page_paths(request.getfixturevalue(f"{service}_app"))
    # The same running app, unjudged: a page's answers are not in the API's document.
    unjudged = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))

    async def send(method: str, path: str, headers: dict[str, str]) -> Any:
        body: dict[str, Any] = {"json": {}} if method in WRITES else {}
        if method == "GET":  # bound any live stream (SSE) so the request ends
            body["params"] = {"max_seconds": "0", "limit": "1"}
        page = any(p.fullmatch(path) for p in pages)
        return await (unjudged if page else client).request(method, path, headers=headers, **body)

    return send


def rm_id() -> str:
    return f"rm{uuid.uuid4().hex[:10]}"


async def test_no_token_gets_401_on_every_guarded_route(routes, call):
    wrong = []
    for method, path, roles, _ in routes:
        resp = await call(method, fill(path, rm_id()), {})
        if resp.status_code >= 500 or (roles is not None and resp.status_code != 401):
            wrong.append(f"{method} {path}: {resp.status_code}")
    assert not wrong, wrong


async def test_a_role_not_allowed_gets_403_and_an_allowed_one_is_never_refused(routes, call, auth):
    wrong = []
    for method, path, roles, subject_param in routes:
        for role in ROLES:
            ext = rm_id()
            headers = auth(role, ext if role == "portal" else None)
            resp = await call(method, fill(path, ext), headers)
            status = resp.status_code
            if roles is None or role not in roles:
                expected_ok = roles is None and status not in (401, 403)
                expected_ok = expected_ok or (roles is not None and status == 403)
            else:
                expected_ok = status not in (401, 403)
            if status >= 500 or not expected_ok:
                wrong.append(f"{role} {method} {path}: {status}")
    assert not wrong, wrong


async def test_a_portal_token_never_reaches_another_subject(routes, call, auth):
    wrong = []
    for method, path, roles, subject_param in routes:
        if roles is None or "portal" not in roles or not subject_param:
            continue
        resp = await call(method, fill(path, rm_id()), auth("portal", rm_id()))
        if resp.status_code != 403:
            wrong.append(f"{method} {path}: {resp.status_code}")
    assert not wrong, wrong


async def test_a_portal_token_cannot_read_an_existing_other_subject(consent, auth, new_id):
    mine, other = new_id("me"), new_id("other")
    await consent.put(
        f"/v1/subjects/{other}", json={"email": f"{other}@x.fi"}, headers=auth("admin")
    )
    for suffix in ("", "/consents", "/consents/history", "/preferences"):
        resp = await consent.get(f"/v1/subjects/{other}{suffix}", headers=auth("portal", mine))
        assert resp.status_code == 403, (suffix, resp.status_code)
        assert other not in resp.text
