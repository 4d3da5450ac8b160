"""Two real transactions on one subject's preferences: the second never overwrites the first."""

from __future__ import annotations

import asyncio

from services.consent.service.preferences import PreferenceService
from shared.auth.tokens import Principal
from shared.errors import PreconditionFailed

ADMIN = Principal(role="admin", subject=None, token_id="test")


async def test_a_writer_waiting_on_the_lock_sees_the_new_version_and_gets_412(
    consent, auth, new_id, session_factory
):
    ext = new_id("cust")
    assert (
        await consent.put(f"/v1/subjects/{ext}", json={}, headers=auth("admin"))
    ).status_code == 201
    first = session_factory()
    await first.begin()
    await PreferenceService(first).patch(ext, {"language": "fi"}, '"0"', ADMIN)

    async def second_writer() -> str:
        async with session_factory() as session, session.begin():
            try:
                await PreferenceService(session).patch(ext, {"language": "sv"}, '"0"', ADMIN)
            except PreconditionFailed:
                return "412"
            return "200"

    waiting = asyncio.create_task(second_writer())
    await asyncio.sleep(0)  # let it reach the lock; the outcome must not depend on how far it got
    await first.commit()
    await first.close()
    assert await waiting == "412"
    async with session_factory() as session:
        view = await PreferenceService(session).get(ext)
    assert view.doc["language"] == "fi" and view.version == 1
