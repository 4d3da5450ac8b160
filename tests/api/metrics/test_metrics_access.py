"""Who may scrape ``GET /metrics``: a metrics token or an admin; the metrics token nowhere else."""

from __future__ import annotations

import pytest

from shared.auth.tokens import issue_metrics_token
from tests.api.metrics.scrape import samples


@pytest.mark.parametrize("service", ["consent", "dsar"])
async def test_a_metrics_token_scrapes_text_prometheus_parses(service, request, scrape):
    text = await scrape(request.getfixturevalue(service))
    found = samples(text)
    assert (
        "lupa_http_requests_total" in found or "lupa_http_request_duration_seconds_count" in found
    )
    assert found["lupa_metrics_database_up"] == [({}, 1.0)]


async def test_an_admin_may_scrape_and_other_roles_may_not(consent, auth):
    assert (await consent.get("/metrics", headers=auth("admin"))).status_code == 200
    for role in ("cx", "marketing", "officer"):
        assert (await consent.get("/metrics", headers=auth(role))).status_code == 403
    assert (await consent.get("/metrics", headers=auth("portal", "p-1"))).status_code == 403


async def test_without_a_token_or_with_an_expired_one_scraping_is_refused(consent, keyring):
    assert (await consent.get("/metrics")).status_code == 401
    expired = {"Authorization": f"Bearer {issue_metrics_token(keyring, -10)}"}
    resp = await consent.get("/metrics", headers=expired)
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_a_metrics_token_opens_nothing_but_metrics(consent, dsar, metrics_headers):
    for client, path in (
        (consent, "/v1/subjects/someone"),
        (consent, "/v1/check?subject=s&purpose=p&channel=email"),
        (consent, "/v1/audit/events"),
        (dsar, "/v1/requests"),
        (dsar, "/v1/stats"),
    ):
        resp = await client.get(path, headers=metrics_headers)
        assert resp.status_code == 401, (path, resp.status_code)
