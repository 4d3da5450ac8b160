"""The erasure receipt says per system erased, not held, or kept and why, and nothing else
about the person than the request id."""

from __future__ import annotations

import json

import pytest

from services.dsar.domain.erasure_receipt import receipt_claims
from services.dsar.domain.package import SystemAnswer
from tests.unit.dsar.package.samples import GENERATED, request

ANSWERS = [
    SystemAnswer("consent", "done"),
    SystemAnswer("shop", "not_found"),
    SystemAnswer("books", "exempt", reason="Art. 17(3)(b): Kirjanpitolaki 2:10"),
    SystemAnswer("legacy", "skipped", reason="system decommissioned"),
    SystemAnswer("crm", "failed"),
]


def claims() -> dict:
    return receipt_claims(
        request("erasure"),
        ANSWERS,
        issuer="https://dsar.example",
        receipt_id="r1",
        issued_at=GENERATED,
    )


def test_each_system_says_what_happened_and_why_data_was_kept():
    assert claims()["systems"] == [
        {"name": "consent", "result": "erased"},
        {"name": "shop", "result": "not_held"},
        {"name": "books", "result": "kept", "reason": "Art. 17(3)(b): Kirjanpitolaki 2:10"},
        {"name": "legacy", "result": "skipped", "reason": "system decommissioned"},
        {"name": "crm", "result": "not_answered"},
    ]


def test_the_receipt_names_the_request_and_its_times_only():
    found = claims()
    req = request("erasure")
    assert set(found) == {
        "iss",
        "jti",
        "iat",
        "format",
        "request",
        "received_at",
        "completed_at",
        "systems",
    }
    assert found["iss"] == "https://dsar.example"
    assert found["received_at"] == req.received_at.isoformat()
    assert "@" not in json.dumps(found)


def test_only_an_erasure_request_has_a_receipt():
    with pytest.raises(ValueError, match="access"):
        receipt_claims(request("access"), ANSWERS, issuer="x", receipt_id="r", issued_at=GENERATED)
