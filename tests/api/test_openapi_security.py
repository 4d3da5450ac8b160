"""The OpenAPI document says which operations need the bearer token, judged by openapi-core:
public operations (keys, health, one-click unsubscribe, confirmation) can be called without
one, every guarded operation demands it."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest
from openapi_core.validation.request.exceptions import SecurityValidationError

from shared.auth.guards import route_roles
from tests.route_table import page_routes

HOST = "http://testserver"
# RFC 8693: the token exchange's credential is the body's subject_token, not a bearer header.
CREDENTIAL_IN_BODY = {("POST", "/v1/token")}
SAMPLE = {"{external_id}": "cust-1", "{token}": "t0k3n", "{key}": "newsletter"}


@pytest.fixture(scope="module")
async def document(consent: Any) -> OpenAPI:
    resp = await consent.get("/schema/openapi.json")
    assert resp.status_code == 200
    return OpenAPI.from_dict(resp.json())


def _path(template: str) -> str:
    for name, value in SAMPLE.items():
        template = template.replace(name, value)
    return template


def _operations(app: Any) -> list[tuple[str, str, bool]]:
    """(method, OpenAPI path, public) for every documented operation."""
    pages = page_routes(app)  # web pages: not API
    return [
        (
            method,
            path.replace(":str", "").replace(":uuid", ""),
            roles is None or (method, path) in CREDENTIAL_IN_BODY,
        )
        for method, path, roles in route_roles(app)
        if path not in pages
    ]


def _security_errors(document: OpenAPI, method: str, path: str) -> list[Exception]:
    request = MockRequest(HOST, method.lower(), _path(path))
    result = document.unmarshal_request(request)
    return [e for e in result.errors if isinstance(e, SecurityValidationError)]


def test_public_operations_need_no_token(consent: Any, document: OpenAPI) -> None:
    public = [(m, p) for m, p, is_public in _operations(consent.app) if is_public]
    assert ("GET", "/.well-known/jwks.json") in public
    assert set(public) >= CREDENTIAL_IN_BODY
    for method, path in public:
        assert not _security_errors(document, method, path), (method, path)


def test_guarded_operations_demand_the_bearer_token(consent: Any, document: OpenAPI) -> None:
    guarded = [(m, p) for m, p, is_public in _operations(consent.app) if not is_public]
    assert len(guarded) > 10
    for method, path in guarded:
        assert _security_errors(document, method, path), (method, path)
