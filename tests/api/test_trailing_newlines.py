"""A key, slug, clock time or event type with one final newline is refused like any other
malformed value (Python's ``$`` alone would let "news\\n" through and store it)."""

from __future__ import annotations

import pytest

from tests.api.test_preferences import PURPOSE, new_subject, url


def quiet(start: str, end: str) -> dict:
    return {"quiet_hours": {"start": start, "end": end, "timezone": "Europe/Helsinki"}}


@pytest.mark.parametrize(
    "patch",  # built from the test's own purpose key
    [
        lambda _: quiet("21:00\n", "08:00"),
        lambda _: quiet("21:00", "08:00\n"),
        lambda purpose: {"topics": {purpose: ["running\n"]}},
        lambda purpose: {"topics": {purpose + "\n": ["running"]}},
    ],
    ids=["start", "end", "topic", "purpose-key"],
)
async def test_a_preference_value_with_a_final_newline_is_refused(consent, auth, new_id, patch):
    ext = await new_subject(consent, auth, new_id)
    purpose = new_id("news")
    await consent.put(f"/v1/purposes/{purpose}", json=PURPOSE, headers=auth("admin"))
    body = patch(purpose)
    resp = await consent.patch(url(ext), json=body, headers={**auth("admin"), "If-Match": '"0"'})
    assert resp.status_code == 422, resp.text
    after = await consent.get(url(ext), headers=auth("admin"))
    assert after.headers["etag"] == '"0"'  # nothing was stored


async def test_a_webhook_event_type_with_a_final_newline_is_refused(consent, auth):
    body = {"url": "http://127.0.0.1:9/hook", "types": ["fi.lupa.consent.purpose.created\n"]}
    resp = await consent.post("/v1/audit/webhooks", json=body, headers=auth("admin"))
    assert resp.status_code == 422, resp.text
