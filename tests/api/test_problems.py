"""Bad input gets an RFC 9457 problem, never a 500, never an echo of the input."""

from __future__ import annotations

import uuid

PROBLEM = "application/problem+json"


def assert_problem(resp, status: int, slug: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["type"] == f"urn:lupa:problem:{slug}"
    assert body["status"] == status and body["title"]
    assert "Traceback" not in resp.text
    return body


async def test_malformed_json_is_a_problem(consent, auth, new_id):
    resp = await consent.put(
        f"/v1/purposes/{new_id('p')}",
        content=b'{"legal_basis": ',
        headers={**auth("admin"), "content-type": "application/json"},
    )
    assert resp.status_code in (400, 422)
    assert resp.headers["content-type"].startswith(PROBLEM)


async def test_oversized_body_is_413(consent, auth, new_id):
    huge = {"email": "a@b.fi", "name": "x" * 400_000}
    resp = await consent.put(f"/v1/subjects/{new_id('c')}", json=huge, headers=auth("admin"))
    assert_problem(resp, 413, "payload-too-large")


async def test_wrong_types_name_the_field_but_not_the_value(consent, auth, new_id):
    resp = await consent.put(
        f"/v1/subjects/{new_id('c')}", json={"email": ["secret-value@x.fi"]}, headers=auth("admin")
    )
    body = assert_problem(resp, 422, "invalid-input")
    assert "secret-value" not in resp.text
    assert any("email" in e["field"] for e in body["errors"])


async def test_unknown_route_is_a_404_problem(consent, auth):
    assert_problem(await consent.get("/v1/nothing-here", headers=auth("admin")), 404, "not-found")


async def test_wrong_method_is_a_405_problem(consent, auth):
    assert_problem(
        await consent.delete("/v1/purposes", headers=auth("admin")), 405, "method-not-allowed"
    )


async def test_garbage_token_is_401_with_www_authenticate(consent):
    resp = await consent.get("/v1/purposes", headers={"Authorization": "Bearer not.a.token"})
    assert_problem(resp, 401, "unauthorized")
    assert resp.headers["www-authenticate"] == "Bearer"


async def test_expired_token_is_401(consent, token):
    resp = await consent.get(
        "/v1/purposes", headers={"Authorization": f"Bearer {token('admin', ttl=-10)}"}
    )
    assert_problem(resp, 401, "unauthorized")


async def test_token_signed_by_another_deployment_is_401(consent):
    from shared.auth.tokens import issue_access_token
    from shared.keys import Keyring

    foreign = issue_access_token(Keyring.generate(), "admin", None, 3600)
    resp = await consent.get("/v1/purposes", headers={"Authorization": f"Bearer {foreign}"})
    assert_problem(resp, 401, "unauthorized")


async def test_every_response_carries_a_request_id(consent):
    resp = await consent.get("/health/live")
    request_id = resp.headers["x-request-id"]
    assert str(uuid.UUID(request_id)) == request_id
