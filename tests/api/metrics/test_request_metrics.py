"""Requests are counted per route template, method and status; no subject id in the text."""

from __future__ import annotations

from tests.api.metrics.scrape import value

SUBJECT_ROUTE = "/v1/subjects/{external_id}"


async def test_requests_count_per_route_template_without_the_subject_id(
    consent, auth, new_id, scrape
):
    before = await scrape(consent)
    subjects = [new_id("metric-subject") for _ in range(3)]
    for subject in subjects:
        resp = await consent.put(
            f"/v1/subjects/{subject}", json={"email": f"{subject}@x.fi"}, headers=auth("admin")
        )
        assert resp.status_code in (200, 201), resp.text
    missing = await consent.get(f"/v1/subjects/{new_id('nobody')}", headers=auth("admin"))
    assert missing.status_code == 404
    after = await scrape(consent)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    puts = {"route": SUBJECT_ROUTE, "method": "PUT"}
    assert delta("lupa_http_requests_total", **puts) == 3
    assert delta("lupa_http_request_duration_seconds_count", **puts) == 3
    assert delta("lupa_http_requests_total", route=SUBJECT_ROUTE, method="GET", status="404") == 1
    for subject in subjects:
        assert subject not in after and "x.fi" not in after


async def test_an_unknown_path_is_counted_under_no_route(consent, scrape, new_id):
    before = await scrape(consent)
    path = f"/no/such/{new_id('place')}"
    assert (await consent.get(path)).status_code == 404
    after = await scrape(consent)
    labels = {"route": "?", "status": "404"}
    assert value(after, "lupa_http_requests_total", **labels) == (
        value(before, "lupa_http_requests_total", **labels) + 1
    )
    assert path not in after
