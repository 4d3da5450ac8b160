"""What the registry refuses, each as a 422 problem that names the field and stores nothing."""

from __future__ import annotations

import pytest

from tests.api.dsar.connectors.helpers import connector_body

BAD_BODIES = {
    "relative url": {"url": "/lupa/jobs/relative"},
    "ftp url": {"url": "ftp://files.example.test/jobs"},
    "no host": {"url": "https:///jobs/only"},
    "credentials in url": {"url": "https://user:pw@crm.example.test/jobs"},
    "user in url": {"url": "https://user@crm.example.test/jobs"},
    "fragment": {"url": "https://crm.example.test/jobs#frag"},
    "newline in url": {"url": "https://crm.example.test/jo\nbs"},
    "bad port": {"url": "https://crm.example.test:99999/jobs"},
    "plain secret": {"secret": "correct horse battery staple"},
    "short secret": {"secret": "whsec_c2hvcnQ="},
    "not base64 secret": {"secret": "whsec_!!!!not-base64!!!!!!!!!!!!!!!!!!!!"},
    "no actions": {"actions": []},
    "unknown action": {"actions": ["access", "delete_everything"]},
    "duplicate action": {"actions": ["access", "access"]},
    "enabled not bool": {"enabled": "yes"},
    "unknown field": {"colour": "blue"},
}


@pytest.mark.parametrize("overrides", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_bad_connector_is_a_422_problem_and_is_not_registered(dsar, auth, new_id, overrides):
    name = new_id("bad")
    body = connector_body(**overrides)
    response = await dsar.put(f"/v1/connectors/{name}", json=body, headers=auth("admin"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "urn:lupa:problem:invalid-input"
    assert body["secret"] not in response.text
    missing = await dsar.get(f"/v1/connectors/{name}", headers=auth("admin"))
    assert missing.status_code == 404


@pytest.mark.parametrize("field", ["url", "secret", "actions"])
async def test_a_missing_field_is_a_422_problem(dsar, auth, new_id, field):
    body = connector_body()
    del body[field]
    response = await dsar.put(f"/v1/connectors/{new_id('bad')}", json=body, headers=auth("admin"))
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("name", ["Upper", "-dash-first", "a" * 65, "spa ce", "ütf"])
async def test_a_bad_name_is_a_422_problem(dsar, auth, name):
    response = await dsar.put(
        f"/v1/connectors/{name}", json=connector_body(), headers=auth("admin")
    )
    assert response.status_code == 422, response.text
