"""Registering, replacing, reading and disabling connectors over HTTP."""

from __future__ import annotations

from sqlalchemy import text

from services.dsar.service.connector_secrets import open_secret
from tests.api.dsar.connectors.helpers import connector_body, connector_events


async def test_admin_registers_a_connector_and_officers_see_it_without_its_secret(
    dsar, auth, new_id
):
    name = new_id("crm")
    body = connector_body()
    created = await dsar.put(f"/v1/connectors/{name}", json=body, headers=auth("admin"))
    assert created.status_code == 201, created.text
    shown = created.json()
    assert shown["name"] == name and shown["url"] == body["url"]
    assert shown["actions"] == ["access", "erasure"] and shown["enabled"] is True
    listed = await dsar.get("/v1/connectors", headers=auth("officer"))
    assert name in [c["name"] for c in listed.json()]
    one = await dsar.get(f"/v1/connectors/{name}", headers=auth("officer"))
    assert one.status_code == 200 and one.json()["url"] == body["url"]
    for response in (created, listed, one):
        assert body["secret"] not in response.text
        assert body["secret"].removeprefix("whsec_") not in response.text
        assert "secret" not in response.text


async def test_the_secret_is_stored_sealed_and_opens_to_what_was_registered(
    dsar, auth, new_id, session_factory, keyring
):
    name = new_id("shop")
    body = connector_body()
    await dsar.put(f"/v1/connectors/{name}", json=body, headers=auth("admin"))
    async with session_factory() as session:
        row = (
            await session.execute(
                text("SELECT kek_id, secret_ct FROM dsar_connectors WHERE name = :n"), {"n": name}
            )
        ).one()
    assert body["secret"].encode() not in row.secret_ct
    assert open_secret(keyring, name, row.kek_id, row.secret_ct) == body["secret"]


async def test_a_second_put_replaces_the_connector_and_keeps_its_creation_time(
    dsar, auth, new_id, session_factory, keyring
):
    name = new_id("crm")
    first = await dsar.put(f"/v1/connectors/{name}", json=connector_body(), headers=auth("admin"))
    replacement = connector_body(
        url="http://127.0.0.1:9000/jobs", actions=["objection"], enabled=False
    )
    second = await dsar.put(f"/v1/connectors/{name}", json=replacement, headers=auth("admin"))
    assert second.status_code == 200, second.text
    shown = second.json()
    assert shown["url"] == replacement["url"] and shown["actions"] == ["objection"]
    assert shown["enabled"] is False
    assert shown["created_at"] == first.json()["created_at"]
    assert shown["updated_at"] >= first.json()["updated_at"]
    async with session_factory() as session:
        row = (
            await session.execute(
                text("SELECT kek_id, secret_ct FROM dsar_connectors WHERE name = :n"), {"n": name}
            )
        ).one()
    assert open_secret(keyring, name, row.kek_id, row.secret_ct) == replacement["secret"]


async def test_delete_disables_the_connector_but_keeps_it_listed(dsar, auth, new_id):
    name = new_id("old")
    await dsar.put(f"/v1/connectors/{name}", json=connector_body(), headers=auth("admin"))
    gone = await dsar.delete(f"/v1/connectors/{name}", headers=auth("admin"))
    assert gone.status_code == 204, gone.text
    shown = (await dsar.get(f"/v1/connectors/{name}", headers=auth("admin"))).json()
    assert shown["enabled"] is False
    again = await dsar.delete(f"/v1/connectors/{name}", headers=auth("admin"))
    assert again.status_code == 204


async def test_unknown_connectors_are_404(dsar, auth, new_id):
    name = new_id("none")
    for response in (
        await dsar.get(f"/v1/connectors/{name}", headers=auth("admin")),
        await dsar.delete(f"/v1/connectors/{name}", headers=auth("admin")),
    ):
        assert response.status_code == 404
        assert response.json()["type"] == "urn:lupa:problem:not-found"


async def test_every_write_records_its_event_with_the_host_only(
    dsar, auth, new_id, session_factory
):
    name = new_id("crm")
    body = connector_body(url="https://crm.example.test/private/path?token=abc")
    await dsar.put(f"/v1/connectors/{name}", json=body, headers=auth("admin"))
    await dsar.put(f"/v1/connectors/{name}", json=body, headers=auth("admin"))
    await dsar.delete(f"/v1/connectors/{name}", headers=auth("admin"))
    await dsar.delete(f"/v1/connectors/{name}", headers=auth("admin"))  # no change, no event
    events = await connector_events(session_factory, name)
    assert [t for t, _ in events] == [
        "connector.registered",
        "connector.updated",
        "connector.disabled",
    ]
    for _, data in events:
        assert data["host"] == "crm.example.test"
        assert data["actions"] == ["access", "erasure"]
        assert "private" not in str(data) and "token" not in str(data)
        assert body["secret"] not in str(data)
