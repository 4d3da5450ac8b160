"""Two service processes on one database: a withdrawal acknowledged by one is seen by the other."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from benchmarks.stack import serve
from shared.keys import Keyring
from tests.ledger_helpers import PURPOSE

LUPA = "services.consent.app:create_app_from_env"


@pytest.fixture
def two_services(database_url: str, keyring: Keyring) -> Iterator[tuple[str, str]]:
    """Two uvicorn processes of the consent service on the test's database."""
    with (
        serve(LUPA, database_url, keyring) as (writer_port, _),
        serve(LUPA, database_url, keyring) as (reader_port, _),
    ):
        yield f"http://127.0.0.1:{writer_port}", f"http://127.0.0.1:{reader_port}"


def test_a_withdrawal_acknowledged_by_one_replica_blocks_the_next_check_on_another(
    two_services, auth, new_id
):
    writer_base, reader_base = two_services
    key, ext = new_id("p"), new_id("cust")
    admin, marketing = auth("admin"), auth("marketing")
    params = {"subject": ext, "purpose": key, "channel": "email"}
    with httpx.Client(base_url=writer_base) as writer, httpx.Client(base_url=reader_base) as reader:
        assert writer.put(f"/v1/purposes/{key}", json=PURPOSE, headers=admin).status_code == 201
        assert (
            writer.put(f"/v1/subjects/{ext}", json={"locale": "fi"}, headers=admin).status_code
            == 201
        )
        for round_ in range(20):
            grant = writer.post(
                f"/v1/subjects/{ext}/consents",
                headers=admin,
                json={"purpose": key, "channel": "email", "action": "grant"},
            )
            assert grant.status_code == 201
            assert reader.get("/v1/check", params=params, headers=marketing).json()["allowed"]
            withdraw = writer.post(
                f"/v1/subjects/{ext}/consents",
                headers=admin,
                json={"purpose": key, "channel": "email", "action": "withdraw"},
            )
            assert withdraw.status_code == 201
            after = reader.get("/v1/check", params=params, headers=marketing).json()
            assert after["allowed"] is False, f"round {round_}: {after}"
            assert after["reasons"] == ["withdrawn"]
