"""A body over the limit (``max_body_bytes``, 256 KiB by default) is refused with a 413
problem before any of it is used: on both services' APIs and on the form pages."""

from __future__ import annotations

import pytest

OVERSIZE = 300 * 1024


def _assert_too_large(answer) -> None:
    assert answer.status_code == 413, answer.text[:200]
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["status"] == 413


async def test_an_oversize_json_body_is_413_and_files_nothing(consent, auth, new_id):
    ext = new_id("cust")
    body = {"email": f"{ext}@example.com", "name": "x" * OVERSIZE}
    _assert_too_large(await consent.put(f"/v1/subjects/{ext}", json=body, headers=auth("admin")))
    assert (await consent.get(f"/v1/subjects/{ext}", headers=auth("admin"))).status_code == 404


async def test_an_oversize_intake_is_413(dsar, new_id):
    body = {"type": "access", "email": f"{new_id('big')}@example.fi", "locale": "x" * OVERSIZE}
    _assert_too_large(await dsar.post("/v1/requests", json=body))


@pytest.mark.parametrize(
    ("service", "path"),
    [("dsar", "/request"), ("dsar", "/console/sign-in"), ("consent", "/cx/sign-in")],
)
async def test_an_oversize_form_is_413(service, path, consent, dsar, pages_of):
    client = pages_of(consent if service == "consent" else dsar)
    answer = await client.post(path, data={"token": "x" * OVERSIZE}, follow_redirects=False)
    _assert_too_large(answer)
