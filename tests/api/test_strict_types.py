"""Strict types (issue 9): a JSON member has its declared JSON type, a query integer is plain
decimal digits; either mistake is 422 naming the member and changes nothing.

The JSON routes and their valid sample bodies are those of ``test_bad_input`` (a new route
fails there until it has a sample); the integer query parameters come from the served OpenAPI
document, so a new one is covered without editing this file.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.test_bad_input import (
    APP,
    JSON_ROUTES,
    PROBLEM,
    query_for,
    sample,
    send,
    world,
    written,
)

__all__ = ["world"]  # the fixture, imported for the tests below

# Members of declared type integer or boolean that the samples leave out, with a valid value.
TYPED_MEMBERS: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/v1/purposes/{key:str}"): {
        "validity_days": 30,
        "min_age": 16,
        "sale_or_sharing": False,
        "require_renewal": False,
    },
    ("PATCH", "/v1/subjects/{external_id:str}/preferences"): {"marketing_opt_out": False},
}


def wrong_types(value: Any) -> list[Any]:
    """Values of the wrong JSON type for a member whose valid value is ``value``."""
    if isinstance(value, bool):
        return ["true", "false", 1, 0]
    if isinstance(value, int):
        return [str(value), float(value), value + 0.5]
    if isinstance(value, str):
        return [7, 7.5, True]
    return []


def cases() -> list[tuple[str, str, str, Any]]:
    """(method, path, member, wrong value) for every typed member of every JSON route."""
    w = {"key": "k", "ext": "e", "fresh": "f", "new_key": "n"}
    found = []
    for method, path in JSON_ROUTES:
        _, body, _ = sample(method, path, w)
        members = {**body, **TYPED_MEMBERS.get((method, path), {})}
        for name, value in members.items():
            found += [(method, path, name, wrong) for wrong in wrong_types(value)]
    return found


def test_every_json_route_has_a_wrongly_typed_case():
    routes = {(method, path) for method, path, _, _ in cases()}
    assert routes == set(JSON_ROUTES)
    kinds = {(type(v).__name__) for *_, v in cases()}
    assert kinds == {"str", "int", "float", "bool"}


@pytest.mark.parametrize(("method", "path", "member", "wrong"), cases())
async def test_a_member_of_the_wrong_json_type_is_422_naming_it(
    consent, auth, world, session_factory, method, path, member, wrong
):
    url, body, headers = sample(method, path, world)
    typed = {**body, **TYPED_MEMBERS.get((method, path), {})}
    before = await written(session_factory)
    resp = await send(consent, auth, method, url, headers, json.dumps({**typed, member: wrong}))
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    problem = resp.json()
    assert problem["type"] == "urn:lupa:problem:invalid-input"
    assert [e["field"] for e in problem["errors"]] == [member], problem
    assert await written(session_factory) == before


@pytest.mark.parametrize(("method", "path"), sorted(TYPED_MEMBERS))
async def test_the_typed_members_are_accepted_with_their_json_types(
    consent, auth, world, method, path
):
    url, body, headers = sample(method, path, world)
    typed = {**body, **TYPED_MEMBERS[(method, path)]}
    resp = await send(consent, auth, method, url, headers, json.dumps(typed))
    assert resp.status_code < 300, resp.text


async def test_a_string_for_validity_days_stores_nothing(consent, auth, new_id):
    key = new_id("strict")
    body = {"legal_basis": "consent", "title": {"en": "N"}, "channels": ["email"]}
    resp = await consent.put(
        f"/v1/purposes/{key}", json={**body, "validity_days": "30"}, headers=auth("admin")
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"] == [
        {"field": "validity_days", "message": "Expected `int | null`, got `str`"}
    ]
    assert (await consent.get(f"/v1/purposes/{key}", headers=auth("admin"))).status_code == 404


def integer_query_params() -> list[tuple[str, str]]:
    """(path, name) of every integer query parameter of a GET route in the OpenAPI document."""
    found = []
    for path, operations in APP.openapi_schema.to_schema()["paths"].items():
        for param in operations.get("get", {}).get("parameters", []):
            schema = param["schema"]
            types = [schema.get("type")] + [s.get("type") for s in schema.get("oneOf", [])]
            if param["in"] == "query" and "integer" in types:
                found.append((path, param["name"]))
    return found


def test_the_integer_query_parameters_are_found():
    found = integer_query_params()
    assert ("/v1/audit/stream", "limit") in found
    assert ("/v1/subjects/{external_id}/consents/history", "after") in found


def url_for(path: str, w: dict[str, str]) -> str:
    return path.replace("{external_id}", w["ext"]).replace("{key}", w["key"])


@pytest.mark.parametrize(("path", "name"), integer_query_params())
# The last is ARABIC-INDIC DIGIT ONE, a digit to Python's int() but not a decimal ASCII digit.
@pytest.mark.parametrize("number", ["1e3", "1.0", "+5", "0x10", " 5", "5_0", "\u0661"])
async def test_a_query_integer_not_in_plain_digits_is_422(consent, auth, world, path, name, number):
    params = {**query_for(path, world), name: number}
    resp = await consent.get(url_for(path, world), params=params, headers=auth("admin"))
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    problem = resp.json()
    assert problem["type"] == "urn:lupa:problem:invalid-input"
    assert [e["field"] for e in problem["errors"]] == [name]


@pytest.mark.parametrize(("path", "name"), integer_query_params())
async def test_a_query_integer_in_plain_digits_is_accepted(consent, auth, world, path, name):
    params = {**query_for(path, world), name: "1"}
    resp = await consent.get(url_for(path, world), params=params, headers=auth("admin"))
    assert resp.status_code == 200, resp.text
