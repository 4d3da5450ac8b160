"""The authorization matrix: every route of both services, against no token, an expired, a
tampered and a wrong-kind token, an unbound portal token and every role, never a 500.

The guarded routes and their roles come from the app itself (``route_roles``), so a route
added later is checked too; a route without a role guard must be declared in ``UNGUARDED``
with why, or ``test_every_unguarded_route_is_declared`` fails. Path parameters get random
valid-looking values; the bodies are empty, so an allowed role may well get
400/404/409/412/422/428 — but never a refusal of who it is, and never a 500.
"""

from __future__ import annotations

import inspect
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar

from shared.auth.guards import route_roles
from shared.auth.kinds import DOWNLOAD_LINK, ERASURE_RECEIPT, METRICS_TOKEN, PREFERENCE_LINK
from shared.auth.tokens import ROLES, issue_access_token, sign_claims
from shared.keys import Keyring
from tests.route_table import is_page

PARAM = re.compile(r"\{(\w+):(\w+)\}")
WRITES = {"POST", "PUT", "PATCH"}
# Authenticated by a Standard Webhooks signature, not a bearer token: their own tests cover it
# (tests/api/connector/, tests/api/dsar/).
SIGNED_ROUTES = {("POST", "/v1/connector"), ("POST", "/v1/jobs/{job_id:uuid}/callback")}
# The token exchange takes its credential in the body (RFC 8693), so it has its own rows.
EXCHANGE = ("POST", "/v1/token")
# Every route without a role guard, and why it has none: anything else unguarded fails.
PUBLIC = "public"
SIGNED = "signed"  # a Standard Webhooks signature instead of a bearer token
LINK = "link"  # a signed link in the path is the credential; its own tests cover it
UNGUARDED: dict[str, dict[tuple[str, str], str]] = {
    "consent": {
        ("GET", "/.well-known/jwks.json"): PUBLIC,
        ("GET", "/cx/sign-in"): PUBLIC,
        ("POST", "/cx/sign-in"): PUBLIC,
        ("GET", "/health/live"): PUBLIC,
        ("GET", "/health/ready"): PUBLIC,
        ("GET", "/privacy"): PUBLIC,
        ("GET", "/static/{file_path:path}"): PUBLIC,
        ("GET", "/v1/confirm/{token:str}"): LINK,
        ("POST", "/v1/confirm/{token:str}"): LINK,
        ("POST", "/v1/connector"): SIGNED,
        ("GET", "/v1/unsubscribe/{token:str}"): LINK,
        ("POST", "/v1/unsubscribe/{token:str}"): LINK,
    },
    "dsar": {
        ("GET", "/.well-known/jwks.json"): PUBLIC,
        ("GET", "/console/sign-in"): PUBLIC,
        ("POST", "/console/sign-in"): PUBLIC,
        ("GET", "/health/live"): PUBLIC,
        ("GET", "/health/ready"): PUBLIC,
        ("GET", "/request"): PUBLIC,
        ("POST", "/request"): PUBLIC,
        ("POST", "/request/{request_id:uuid}/verify"): PUBLIC,
        ("GET", "/static/{file_path:path}"): PUBLIC,
        ("GET", "/v1/downloads/{token:str}"): LINK,
        ("POST", "/v1/jobs/{job_id:uuid}/callback"): SIGNED,
        ("POST", "/v1/requests"): PUBLIC,  # the intake: anyone, or a bound portal token
        ("POST", "/v1/requests/{request_id:uuid}/resend-code"): PUBLIC,
        ("POST", "/v1/requests/{request_id:uuid}/verify"): PUBLIC,
        ("GET", "/v1/schemas/access-package.json"): PUBLIC,
    },
}
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
        if (m, p) not in SIGNED_ROUTES and (m, p) != EXCHANGE
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


def test_every_unguarded_route_is_declared(service, request):
    """A route without a role guard is a decision: declared above with its reason, or a fail.
    A declared route that is gone fails too, so the list stays the truth."""
    app: Litestar = request.getfixturevalue(f"{service}_app")
    table = route_roles(app)
    unguarded = {(m, p) for m, p, roles in table if roles is None}
    assert unguarded == set(UNGUARDED[service]), (
        f"undeclared: {sorted(unguarded - set(UNGUARDED[service]))}, "
        f"declared but gone: {sorted(set(UNGUARDED[service]) - unguarded)}"
    )
    assert (*EXCHANGE, ("portal",)) in table


def flipped_signature(token: str) -> str:
    """The token with one byte of its signature changed (the first, so the base64url stays
    canonical)."""
    head, _, signature = token.rpartition(".")
    first = "A" if signature[0] != "A" else "B"
    return f"{head}.{first}{signature[1:]}"


def wrong_kinds(keyring: Keyring, role: str, subject: str) -> dict[str, str]:
    """Tokens signed by the same key with an access token's claims, but of another kind."""
    now = int(time.time())
    claims = {"role": role, "sub": subject, "iat": now, "exp": now + 600, "jti": "wrongkind"}
    return {
        kind.claim: sign_claims(keyring, claims, kind)
        for kind in (PREFERENCE_LINK, DOWNLOAD_LINK, ERASURE_RECEIPT, METRICS_TOKEN)
    }


async def test_a_broken_token_of_an_allowed_role_gets_401_on_every_guarded_route(
    routes, call, keyring, token
):
    """Expired, tampered, or of another kind (typ/aud): refused as no token at all (401)."""
    wrong = []
    for method, path, roles, _ in routes:
        if roles is None:
            continue
        ext = rm_id()
        role = next(r for r in roles if r in ROLES)  # an access role (/metrics also names its kind)
        subject = ext if role == "portal" else None
        broken = {
            "expired": issue_access_token(keyring, role, subject, -60),
            "tampered": flipped_signature(token(role, subject)),
            **wrong_kinds(keyring, role, ext),
        }
        for name, bad in broken.items():
            if name == METRICS_TOKEN.claim and path == "/metrics":
                continue  # the one route a metrics token opens (tests/api/metrics)
            resp = await call(method, fill(path, ext), {"Authorization": f"Bearer {bad}"})
            if resp.status_code != 401:
                wrong.append(f"{name} {role} {method} {path}: {resp.status_code}")
    assert not wrong, wrong


async def test_an_unbound_portal_token_gets_403_on_every_guarded_route(routes, call, auth):
    """The portal backend's token opens nothing but the exchange (tested below)."""
    wrong = []
    for method, path, roles, _ in routes:
        if roles is None:
            continue
        resp = await call(method, fill(path, rm_id()), auth("portal"))
        ok = resp.status_code == 403 and (
            "problem+json" not in resp.headers.get("content-type", "")
            or resp.json()["type"] == "urn:lupa:problem:unbound-portal-token"
        )
        if not ok:
            wrong.append(f"{method} {path}: {resp.status_code}")
    assert not wrong, wrong


async def test_no_token_on_a_public_route_is_never_refused_for_who_it_is(service, call):
    wrong = []
    for (method, path), why in UNGUARDED[service].items():
        if why != PUBLIC:
            continue
        resp = await call(method, fill(path, rm_id()), {})
        if resp.status_code in (401, 403) or resp.status_code >= 500:
            wrong.append(f"{method} {path}: {resp.status_code}")
    assert not wrong, wrong


def exchange_form(subject_token: str) -> dict[str, str]:
    return {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": subject_token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "subject": rm_id(),
    }


async def test_the_exchange_row_of_the_matrix(service, request, keyring, token):
    """``POST /v1/token``: no token 400 (a parameter is missing), a broken one 401, an unbound
    portal token 200, every other role and a bound portal token 403."""
    client = request.getfixturevalue(service)
    ext = rm_id()
    expected: dict[str, tuple[str, int]] = {
        "expired": (issue_access_token(keyring, "portal", None, -60), 401),
        "tampered": (flipped_signature(token("portal")), 401),
        **{name: (bad, 401) for name, bad in wrong_kinds(keyring, "portal", ext).items()},
        "unbound portal": (token("portal"), 200),
        "bound portal": (token("portal", ext), 403),
        **{role: (token(role), 403) for role in ROLES if role != "portal"},
    }
    wrong = []
    without = {k: v for k, v in exchange_form("").items() if v}
    no_token = await client.post("/v1/token", data=without)
    if no_token.status_code != 400:
        wrong.append(f"no token: {no_token.status_code}")
    for name, (subject_token, status) in expected.items():
        resp = await client.post("/v1/token", data=exchange_form(subject_token))
        if resp.status_code != status:
            wrong.append(f"{name}: {resp.status_code}")
    assert not wrong, wrong
