"""Every connector endpoint and every role: only admin writes, admin and officer read."""

from __future__ import annotations

import pytest

from tests.api.dsar.connectors.helpers import connector_body

ROLES = ("admin", "officer", "portal", "marketing", "cx", None)
# (method, who may call it, the status an allowed caller gets)
ENDPOINTS = {
    "put": ({"admin"}, 201),
    "list": ({"admin", "officer"}, 200),
    "get": ({"admin", "officer"}, 200),
    "delete": ({"admin"}, 204),
}


async def call(dsar, endpoint: str, name: str, headers: dict[str, str]):
    if endpoint == "put":
        return await dsar.put(f"/v1/connectors/{name}", json=connector_body(), headers=headers)
    if endpoint == "list":
        return await dsar.get("/v1/connectors", headers=headers)
    if endpoint == "get":
        return await dsar.get(f"/v1/connectors/{name}", headers=headers)
    return await dsar.delete(f"/v1/connectors/{name}", headers=headers)


def headers_for(auth, role: str | None, subject: str) -> dict[str, str]:
    if role is None:
        return {}
    return auth(role, subject) if role == "portal" else auth(role)


@pytest.mark.parametrize("role", ROLES, ids=[r or "no token" for r in ROLES])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_each_role_reaches_exactly_the_connector_endpoints_it_may(
    dsar, auth, new_id, endpoint, role
):
    name = new_id("roles")
    if endpoint != "put":
        made = await dsar.put(
            f"/v1/connectors/{name}", json=connector_body(), headers=auth("admin")
        )
        assert made.status_code == 201
    response = await call(dsar, endpoint, name, headers_for(auth, role, new_id("cust")))
    allowed, success = ENDPOINTS[endpoint]
    if role is None:
        assert response.status_code == 401
    elif role in allowed:
        assert response.status_code == success, response.text
    else:
        assert response.status_code == 403
        assert response.json()["type"] == "urn:lupa:problem:forbidden"
    if endpoint in ("put", "delete") and role not in allowed:
        shown = await dsar.get(f"/v1/connectors/{name}", headers=auth("admin"))
        expected = 404 if endpoint == "put" else 200
        assert shown.status_code == expected
        if endpoint == "delete":
            assert shown.json()["enabled"] is True, "a refused DELETE must change nothing"


async def test_a_portal_backend_token_without_subject_is_refused(dsar, auth):
    response = await dsar.get("/v1/connectors", headers=auth("portal"))
    assert response.status_code == 403
