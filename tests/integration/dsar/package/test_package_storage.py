"""A completed access request's package is built from its jobs, stored sealed (no plaintext
personal data in the table) and read back whole, with its audit event."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from services.dsar.service.packages import build_and_store, read_package
from shared.errors import Conflict, NotFound
from tests.integration.dsar.package.seed import events_of, seed_request
from tests.unit.dsar.package.samples import CONTROLLER, consent_data

EMAIL = "maija@example.com"


async def test_a_built_package_is_sealed_at_rest_and_reads_back(session_factory, keyring):
    jobs = [("consent", "done", None, consent_data()), ("shop", "not_found", None, None)]
    request_id = await seed_request(session_factory, keyring, jobs)
    async with session_factory() as session, session.begin():
        built = await build_and_store(session, keyring, request_id, CONTROLLER)
    async with session_factory() as session:
        raw = (
            await session.execute(
                text("SELECT package_ct, summary_ct FROM dsar_packages WHERE request_id = :id"),
                {"id": request_id},
            )
        ).one()
        stored = await read_package(session, keyring, request_id)
    assert EMAIL.encode() not in raw.package_ct + raw.summary_ct
    assert stored.package == built
    assert stored.package["systems"][0]["data"]["subject"]["email"] == EMAIL
    assert EMAIL in stored.summary_html and 'lang="fi"' in stored.summary_html
    assert await events_of(session_factory, request_id, "package.stored") == [
        {"format": "lupa-access-package/1", "systems": 2}
    ]


async def test_building_again_replaces_the_package(session_factory, keyring):
    request_id = await seed_request(session_factory, keyring, [("shop", "not_found", None, None)])
    for _ in range(2):
        async with session_factory() as session, session.begin():
            await build_and_store(session, keyring, request_id, CONTROLLER)
    async with session_factory() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM dsar_packages WHERE request_id = :id"), {"id": request_id}
        )
    assert count == 1
    assert len(await events_of(session_factory, request_id, "package.stored")) == 2


async def test_an_open_or_non_access_request_gets_no_package(session_factory, keyring):
    open_id = await seed_request(session_factory, keyring, [], status="in_progress")
    erasure_id = await seed_request(session_factory, keyring, [], type_="erasure")
    async with session_factory() as session, session.begin():
        with pytest.raises(Conflict):
            await build_and_store(session, keyring, open_id, CONTROLLER)
        with pytest.raises(Conflict):
            await build_and_store(session, keyring, erasure_id, CONTROLLER)
        with pytest.raises(NotFound):
            await read_package(session, keyring, open_id)
