"""The access package says what each system holds and the Art. 15(1) information, and the
published JSON Schema (judged by the independent ``jsonschema`` package) accepts exactly it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from services.dsar.domain.package import SystemAnswer, build_package
from tests.unit.dsar.package.samples import CONTROLLER, GENERATED, consent_data, request, systems

SCHEMA = json.loads(
    (
        Path(__file__).resolve().parents[4] / "services/dsar/schemas/access-package.schema.json"
    ).read_text()
)
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=FormatChecker())


def test_the_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("type_", ["access", "portability"])
def test_a_built_package_matches_the_published_schema(type_):
    VALIDATOR.validate(build_package(request(type_), systems(), CONTROLLER, GENERATED))


@pytest.mark.parametrize(
    "break_it",
    [
        lambda p: p.pop("information"),
        lambda p: p["systems"][3].pop("reason"),  # an exemption must say why
        lambda p: p["systems"][0].update(status="maybe"),
        lambda p: p["request"].update(type="erasure"),
        lambda p: p["information"]["purposes"][0].update(retention={}),
        lambda p: p.update(format="lupa-access-package/0"),
    ],
)
def test_a_wrong_package_fails_the_schema(break_it):
    package = build_package(request(), systems(), CONTROLLER, GENERATED)
    broken = copy.deepcopy(package)
    break_it(broken)
    with pytest.raises(ValidationError):
        VALIDATOR.validate(broken)


def test_each_system_says_whether_it_holds_data_and_why_not():
    package = build_package(request(), systems(), CONTROLLER, GENERATED)
    by_name = {s["name"]: s for s in package["systems"]}
    assert by_name["consent"]["data"]["subject"]["email"] == "maija@example.com"
    assert by_name["shop"] == {"name": "shop", "status": "not_held"}
    assert by_name["books"]["status"] == "exempt"
    assert by_name["books"]["reason"].startswith("Kirjanpitolaki")
    assert by_name["legacy"] == {"name": "legacy", "status": "skipped", "reason": "decommissioned"}


def test_access_gathers_purposes_categories_recipients_and_retention():
    info = build_package(request(), systems(), CONTROLLER, GENERATED)["information"]
    newsletter, profiling = info["purposes"]
    assert newsletter["title"]["fi"] == "Uutiskirje"
    assert newsletter["retention"] == {"days": 30}
    assert profiling["retention"] == {"criteria": "until consent is withdrawn or the purpose ends"}
    assert profiling["title"] == {"en": "Offers"}
    assert info["categories"] == ["email", "name", "purchase_history"]
    assert info["recipients"] == ["Mailer Ltd"]
    assert {"system": "consent", "source": "data_subject"} in info["sources"]
    assert {r["right"] for r in info["rights"]} >= {
        "rectification",
        "erasure",
        "restriction",
        "objection",
    }
    assert info["complaint"]["url"] == "https://tietosuoja.fi"
    assert info["automated_decisions"]["used"] is False


def test_portability_carries_only_what_the_person_provided():
    package = build_package(request("portability"), systems(), CONTROLLER, GENERATED)
    consent = package["systems"][0]["data"]
    assert set(consent) == {"subject", "consents", "preferences"}
    assert package["systems"][1]["data"] == systems()[1].data  # another system's answer, whole


def test_a_request_without_a_package_is_refused():
    with pytest.raises(ValueError, match="erasure"):
        build_package(request("erasure"), systems(), CONTROLLER, GENERATED)


def test_an_exemption_without_a_recorded_reason_still_says_so():
    package = build_package(request(), [SystemAnswer("books", "exempt")], CONTROLLER, GENERATED)
    assert package["systems"][0]["reason"] == "no reason was recorded"
    VALIDATOR.validate(package)


def test_only_answered_systems_contribute_purposes():
    answers = [SystemAnswer("consent", "not_found", data=consent_data())]
    assert build_package(request(), answers, CONTROLLER, GENERATED)["information"]["purposes"] == []
