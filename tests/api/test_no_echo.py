"""No problem echoes a submitted value (issue 9): distinctive markers go into every path
parameter, query parameter and body member of every operation in the OpenAPI document, one
slot at a time, and no refusal carries a marker in its body or headers.

A request the service accepts may of course return what it stored (a purpose's title, the
subject's id in ``Location``); the markers are chosen so that most slots are refused (unknown
keys, bad enum values, control characters), and the test asserts that they were.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import pytest

from tests.api.test_bad_input import APP, query_for, sample, send, world

__all__ = ["world"]

MARKERS = ("qqleakmarker1", "email\x00qqleakmarker2", "QQ Leak Marker3")
STREAMS = ("/v1/audit/stream", "/v1/audience", "/v1/suppression")
PATH_PARAM = re.compile(r"\{(\w+)\}")
# Writes that create what their path names: a valid body would store (and return) the marker.
CREATES = {("put", "/v1/purposes/{key}"), ("put", "/v1/subjects/{external_id}")}
# Map keys are submitted values too.
EXTRA_BODIES: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("patch", "/v1/subjects/{external_id}/preferences"): [
        {"topics": {"qqleakmarker1": ["news"]}},
        {"topics": {"qqleakmarker1": ["QQ Leak Marker3"]}},
        {"channels": {"qqleakmarker1": {"enabled": False}}},
        {"channels": {"email": {"qqleakmarker1": True}}},
        {"channels": {"email": {"frequency": "qqleakmarker1"}}},
        {"qqleakmarker1": 1},
    ],
    ("put", "/v1/purposes/{key}"): [{"qqleakmarker1": 1}],
}


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, items in APP.openapi_schema.to_schema()["paths"].items():
        for method, op in items.items():
            if method in ("get", "put", "post", "patch", "delete"):
                found.append((method, path, op))
    return found


def template(path: str) -> str:
    """The OpenAPI path as the app's route path (``{key}`` -> ``{key:str}``) for ``sample``."""
    for route in APP.routes:
        if PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", re.sub(r":\w+", "", route.path)) == (
            path
        ):
            return route.path
    raise KeyError(path)


def with_marker(value: Any, marker: str) -> list[Any]:
    """Copies of ``value`` with one string inside it (at any depth) replaced by ``marker``."""
    if isinstance(value, str):
        return [marker]
    if isinstance(value, list):
        return [
            [*value[:i], v, *value[i + 1 :]]
            for i, x in enumerate(value)
            for v in with_marker(x, marker)
        ]
    if isinstance(value, dict):
        return [{**value, k: v} for k, x in value.items() for v in with_marker(x, marker)]
    return []


def fill(path: str, values: dict[str, str]) -> str:
    """The path with ``values`` (a marker for any parameter not given), percent-encoded."""
    return PATH_PARAM.sub(lambda m: quote(values.get(m.group(1), "qqleakmarker1"), safe=""), path)


def requests_for(method: str, path: str, op: dict[str, Any], w: dict[str, str]):
    """(url, query, body or None, headers) with one marker in one slot."""
    has_body = "requestBody" in op and "application/json" in op["requestBody"]["content"]
    body: Any = None
    headers: dict[str, str] = {}
    if has_body:
        _, body, headers = sample(method.upper(), template(path), w)
    query = {
        p["name"]: v
        for p in op.get("parameters", [])
        if p["in"] == "query"
        for k, v in query_for(path, w).items()
        if k == p["name"]
    }
    if path == "/v1/audit/stream":
        query = {"max_seconds": "0", "limit": "1"}
    base = {"external_id": w["ext"], "key": w["key"]}
    params = [p for p in op.get("parameters", []) if p["in"] in ("path", "query")]
    for marker in MARKERS:
        for p in params:
            if p["in"] == "path":
                sent = body
                if (method, path) in CREATES and body is not None:
                    sent = with_marker(body, marker)[0]
                yield fill(path, {**base, p["name"]: marker}), query, sent, headers
            else:
                yield fill(path, base), {**query, p["name"]: marker}, body, headers
        if body is not None:
            for variant in with_marker(body, marker):
                yield fill(path, base), query, variant, headers
    for extra in EXTRA_BODIES.get((method, path), []):
        yield fill(path, base), query, extra, headers


@pytest.mark.parametrize(
    ("method", "path", "op"), operations(), ids=lambda x: x if isinstance(x, str) else ""
)
async def test_no_refusal_echoes_a_marker(consent, auth, world, method, path, op):
    refused = 0
    sent = 0
    for url, query, body, headers in requests_for(method, path, op, world):
        sent += 1
        all_headers = {**auth("admin"), **headers}
        content = None
        if body is not None:
            all_headers["content-type"] = "application/json"
            content = json.dumps(body)
        if path in STREAMS:  # judged without the body: an empty stream is not an example
            async with consent.stream(
                method.upper(), url, params=query, content=content, headers=all_headers
            ) as resp:
                await resp.aread()
        else:
            resp = await consent.request(
                method.upper(), url, params=query, content=content, headers=all_headers
            )
        assert resp.status_code < 500, (url, query, body, resp.text)
        if resp.status_code >= 400:
            refused += 1
            shown = resp.text + json.dumps(dict(resp.headers))
            for marker in ("qqleakmarker", "Leak Marker", "QQ%20Leak"):
                assert marker.lower() not in shown.lower(), (url, query, body, resp.text)
    if sent:
        assert refused, f"no marker was refused on {method.upper()} {path}"


async def test_known_echoes_are_gone(consent, auth, world):
    """The reports from the fuzzer, each refused without the value."""
    consent_url = f"/v1/subjects/{world['ext']}/consents"
    cases = [
        ("POST", consent_url, {"purpose": "qqleakmarker1", "channel": "email", "action": "grant"}),
        ("POST", consent_url, {"purpose": world["key"], "channel": "emailqq", "action": "grant"}),
        (
            "POST",
            "/v1/unsubscribe-links",
            {"purpose": "qqleakmarker1", "channel": "email", "subjects": [world["ext"]]},
        ),
    ]
    for method, url, body in cases:
        resp = await send(consent, auth, method, url, {}, json.dumps(body))
        assert resp.status_code == 422, resp.text
        assert "qqleakmarker" not in resp.text and "emailqq" not in resp.text, resp.text
    resp = await consent.get("/v1/purposes/qqleakmarker1", headers=auth("admin"))
    assert resp.status_code == 404 and "qqleakmarker" not in resp.text
