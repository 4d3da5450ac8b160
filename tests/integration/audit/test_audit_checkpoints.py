"""Signed checkpoints: as dense under a backlog as in a trickle, as configured, and readable
from the feed so they can be kept outside the database."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from services.consent.app import create_app
from shared.audit.chain import chain_pending
from shared.audit.checkpoints import CHECKPOINT_TOKEN, CheckpointPolicy
from shared.auth.tokens import issue_access_token, verify_claims
from shared.settings import AuditSettings, DatabaseSettings, sqlalchemy_url
from tests.integration.audit.events import bulk_insert

PURPOSE = {"legal_basis": "consent", "title": {"en": "News"}, "channels": ["email"]}


async def signed_sequences(engine) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT sequence FROM audit_checkpoints ORDER BY 1"))
        return list(rows.scalars())


async def test_a_backlog_bigger_than_a_batch_is_signed_every_n_events(scratch_engine, keyring):
    await bulk_insert(scratch_engine, 2500)
    policy = CheckpointPolicy(every=100, seconds=3600)
    await chain_pending(scratch_engine, "consent", keyring=keyring, policy=policy, batch=1000)
    assert await signed_sequences(scratch_engine) == list(range(100, 2501, 100))


async def test_a_quiet_chain_gets_its_head_signed_once_the_interval_passed(scratch_engine, keyring):
    await bulk_insert(scratch_engine, 7)
    await chain_pending(
        scratch_engine, "consent", keyring=keyring, policy=CheckpointPolicy(every=5, seconds=0)
    )
    assert await signed_sequences(scratch_engine) == [5, 7]


@pytest.fixture
async def scratch_app(
    scratch_url, consent_settings, keyring
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """The consent service on a database of its own, checkpointing every 2 events."""
    settings = dataclasses.replace(
        consent_settings,
        database=DatabaseSettings(url=sqlalchemy_url(scratch_url), pool_size=4),
        audit=AuditSettings(checkpoint_every=2, checkpoint_seconds=3600),
    )
    app = create_app(settings, keyring=keyring)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield client


def bearer(keyring, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_access_token(keyring, role, None, 600)}"}


async def test_the_feed_signs_as_configured_and_hands_out_its_checkpoints(
    scratch_app, keyring, new_id
):
    for _ in range(5):
        await scratch_app.put(
            f"/v1/purposes/{new_id('cp')}", json=PURPOSE, headers=bearer(keyring, "admin")
        )
    feed = await scratch_app.get("/v1/audit/events", headers=bearer(keyring, "cx"))
    hashes = {int(e["sequence"]): e["hash"] for e in feed.json()["events"]}
    page = (await scratch_app.get("/v1/audit/checkpoints", headers=bearer(keyring, "cx"))).json()
    assert [c["sequence"] for c in page["checkpoints"]] == [2, 4]
    assert page["next"] == "4"
    for checkpoint in page["checkpoints"]:
        claims = verify_claims(keyring, checkpoint["token"], CHECKPOINT_TOKEN)
        assert claims["head"] == checkpoint["head"] == hashes[checkpoint["sequence"]]
    after = await scratch_app.get(
        "/v1/audit/checkpoints?after=2&limit=1", headers=bearer(keyring, "admin")
    )
    assert [c["sequence"] for c in after.json()["checkpoints"]] == [4]
