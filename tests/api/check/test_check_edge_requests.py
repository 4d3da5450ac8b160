"""GET /v1/check answers odd requests exactly as the framework-built endpoint did.

A route middleware (CheckFastPath) parses and validates the query itself; these are the
answers recorded from the earlier ``@get`` version (missing, malformed and repeated parameters,
other methods), so the fast path cannot drift from them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.consent.domain.subjects import EXTERNAL_ID_PATTERN
from services.consent.domain.vocabulary import PURPOSE_KEY_PATTERN, TOPIC_SLUG_PATTERN

EXTERNAL_ID_RULE = f"Expected `str` matching regex {EXTERNAL_ID_PATTERN!r}"


async def get(consent: Any, query: str, headers: dict[str, str]) -> Any:
    return await consent.get(f"/v1/check?{query}", headers=headers)


def errors(resp: Any) -> list[dict[str, str]]:
    body = resp.json()
    assert resp.status_code == 422 and body["type"] == "urn:lupa:problem:invalid-input", body
    assert body["instance"] == f"urn:uuid:{resp.headers['x-request-id']}"
    return body["errors"]  # type: ignore[no-any-return]


async def test_a_missing_parameter_is_422_naming_every_missing_one(consent, auth):
    missing = "required query parameter is missing"
    for query, names in (
        ("", ["subject", "purpose", "channel"]),
        ("purpose=p&channel=email", ["subject"]),
        ("subject=x&purpose=p", ["channel"]),
        ("subject=x;purpose=p", ["purpose", "channel"]),  # `;` separates nothing
        ("subject=secret-value-7&channel=email", ["purpose"]),
    ):
        resp = await get(consent, query, auth("marketing"))
        assert errors(resp) == [{"field": name, "message": missing} for name in names], query
        assert "secret-value" not in resp.text and "x;" not in resp.text


async def test_every_malformed_parameter_is_named_in_declaration_order(consent, auth):
    resp = await get(
        consent,
        "at=soon&topic=Bad&channel=pigeon&purpose=P&subject=a%20",
        auth("marketing"),
    )
    assert errors(resp) == [
        {"field": "subject", "message": EXTERNAL_ID_RULE},
        {
            "field": "purpose",
            "message": f"Expected `str` matching regex {PURPOSE_KEY_PATTERN!r}",
        },
        {"field": "channel", "message": "Invalid enum value"},
        {"field": "topic", "message": f"Expected `str` matching regex {TOPIC_SLUG_PATTERN!r}"},
        {"field": "at", "message": "Invalid RFC3339 encoded datetime"},
    ]


async def test_at_needs_an_offset_and_a_future_within_a_year(consent, auth):
    base = "subject=x&purpose=p&channel=email&at="
    naive = (await get(consent, base + "2099-01-01T00:00:00", auth("marketing"))).json()
    assert naive["detail"].startswith("at must carry a time zone offset") and naive["field"] == "at"
    past = (await get(consent, base + "2000-01-01T00:00:00Z", auth("marketing"))).json()
    assert past["detail"] == "at must not be in the past."
    soon = (datetime.now(UTC) + timedelta(days=30)).isoformat().replace("+00:00", "%2B00:00")
    ok = await get(consent, base + soon, auth("marketing"))
    assert ok.status_code == 200
    # A far-future instant is a mistake, not an outage: 422, never 503 "unavailable".
    for far in ("2099-01-01T00:00:00%2B02:00", "9999-12-31T23:00:00Z"):
        resp = await get(consent, base + far, auth("marketing"))
        assert resp.status_code == 422, resp.text
        assert resp.json()["detail"] == "at must be within a year from now."


async def test_repeated_parameters_take_the_last_value_and_extras_are_ignored(consent, auth):
    resp = await get(
        consent,
        "subject=bad%20&subject=x&purpose=p&channel=pigeon&channel=email&x=1&",
        auth("admin"),
    )
    assert resp.status_code == 200 and resp.json()["reasons"] == [
        "unknown_subject",
        "unknown_purpose",
    ]
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["cache-control"] == "no-store"


async def test_authentication_comes_before_validation(consent, auth):
    no_token = await get(consent, "", {})
    assert no_token.status_code == 401 and no_token.headers["www-authenticate"] == "Bearer"
    assert (await get(consent, "", {"Authorization": "Basic abc"})).status_code == 401
    assert (await get(consent, "", auth("portal", "x"))).status_code == 403


async def test_other_methods_are_405_and_options_lists_get_and_head(consent, auth):
    for method in ("POST", "PUT", "DELETE"):
        resp = await consent.request(method, "/v1/check?subject=x", headers=auth("marketing"))
        assert resp.status_code == 405
        assert resp.headers["allow"] == "GET, HEAD, OPTIONS"
        request_id = resp.headers["x-request-id"]
        assert resp.json() == {
            "status": 405,
            "title": "Method not allowed",
            "type": "urn:lupa:problem:method-not-allowed",
            "detail": "This path answers GET, HEAD, OPTIONS.",
            "instance": f"urn:uuid:{request_id}",
            "request_id": request_id,
        }
    options = await consent.request("OPTIONS", "/v1/check")
    assert options.status_code == 204 and options.headers["allow"] == "GET, HEAD, OPTIONS"
