"""Admins registering one connector name at the same moment: one creation, the rest updates."""

from __future__ import annotations

from tests.api.dsar.connectors.helpers import connector_body, connector_events
from tests.concurrency import race

REGISTRARS = 6


async def test_one_name_registered_by_many_requests_at_once_is_created_once(
    dsar, auth, new_id, session_factory
):
    name = new_id("race")
    raced = await race(
        dsar,
        (
            dsar.build_request(
                "PUT", f"/v1/connectors/{name}", json=connector_body(), headers=auth("admin")
            )
            for _ in range(REGISTRARS)
        ),
    )
    assert raced.most_in_flight > 1, "the registrations did not overlap"
    assert raced.statuses() == [200] * (REGISTRARS - 1) + [201], [r.text for r in raced.responses]
    types = [t for t, _ in await connector_events(session_factory, name)]
    assert sorted(types) == ["connector.registered"] + ["connector.updated"] * (REGISTRARS - 1)
