"""Every mail template renders in every language from its documented context, needs every
variable of it, and reads differently in Finnish and Swedish than in English."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from services.dsar.mail.templates import LOCALES, TEMPLATE_NAMES, TemplateProblem, render
from tests.unit.dsar.mail.contexts import FULL_CONTEXTS

EVERY = [(name, locale) for name in TEMPLATE_NAMES for locale in LOCALES]


def test_every_template_has_a_documented_context() -> None:
    assert set(FULL_CONTEXTS) == set(TEMPLATE_NAMES)


@pytest.mark.parametrize(("name", "locale"), EVERY)
def test_every_template_renders_its_whole_context(name: str, locale: str) -> None:
    rendered = render(name, locale, FULL_CONTEXTS[name])
    assert rendered.subject
    assert "{{" not in rendered.body and "{%" not in rendered.body
    for key, value in FULL_CONTEXTS[name].items():
        if key != "request_type" and not isinstance(value, datetime):  # shown transformed
            assert str(value) in rendered.body, key


@pytest.mark.parametrize(("name", "locale"), EVERY)
def test_every_variable_of_the_context_is_needed(name: str, locale: str) -> None:
    for missing in FULL_CONTEXTS[name]:
        context = {k: v for k, v in FULL_CONTEXTS[name].items() if k != missing}
        with pytest.raises(TemplateProblem, match=missing):
            render(name, locale, context)


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
@pytest.mark.parametrize("locale", ["fi", "sv"])
def test_finnish_and_swedish_are_translations_not_copies(name: str, locale: str) -> None:
    english = render(name, "en", FULL_CONTEXTS[name])
    translated = render(name, locale, FULL_CONTEXTS[name])
    assert translated.subject != english.subject
    assert translated.body != english.body


def test_greetings_are_native() -> None:
    code = FULL_CONTEXTS["identity_code"]
    assert render("identity_code", "fi", code).body.startswith("Hei,")
    assert render("identity_code", "sv", code).body.startswith("Hej,")
    assert render("identity_code", "en", code).body.startswith("Hello,")


def test_dates_are_shown_on_the_helsinki_clock() -> None:
    context = FULL_CONTEXTS["request_received"]  # due 22:30 UTC on 31 December 2026
    assert "1.1.2027" in render("request_received", "fi", context).body
    assert "1.1.2027" in render("request_received", "sv", context).body
    assert "1 January 2027" in render("request_received", "en", context).body
    ready = render("package_ready", "fi", FULL_CONTEXTS["package_ready"]).body
    assert "klo 00.30" in ready


def test_the_rejection_names_the_finnish_supervisory_authority() -> None:
    context = FULL_CONTEXTS["request_rejected"]
    assert "Tietosuojavaltuutetun toimisto" in render("request_rejected", "fi", context).body
    assert "Dataombudsmannens byrå" in render("request_rejected", "sv", context).body
    english = render("request_rejected", "en", context).body
    assert "Office of the Data Protection Ombudsman" in english and "tietosuoja.fi" in english


@pytest.mark.parametrize(
    ("request_type", "words"),
    [
        ("access", "download"),
        ("rectification", "corrected"),
        ("erasure", "erased"),
        ("restriction", "restricted"),
        ("objection", "stopped processing"),
    ],
)
def test_completion_says_what_was_done_for_the_type(request_type: str, words: str) -> None:
    context = {**FULL_CONTEXTS["request_completed"], "request_type": request_type}
    assert words in render("request_completed", "en", context).body


def test_an_unknown_language_falls_back_to_english() -> None:
    context = FULL_CONTEXTS["identity_code"]
    assert render("identity_code", "de", context) == render("identity_code", "en", context)


def test_an_unknown_template_is_an_error() -> None:
    with pytest.raises(TemplateProblem):
        render("welcome_gift", "en", {})


def test_an_operator_override_shadows_only_its_own_file(tmp_path: Path) -> None:
    (tmp_path / "fi").mkdir()
    (tmp_path / "fi" / "identity_code.txt").write_text(
        "Subject: Koodi {{ code }}\n\nHei, koodisi on {{ code }}. Terveisin, Esimerkki Oy\n"
    )
    code = FULL_CONTEXTS["identity_code"]
    overridden = render("identity_code", "fi", code, overrides=tmp_path)
    assert overridden.subject == "Koodi 493817"
    assert "Esimerkki Oy" in overridden.body
    shipped = render("identity_code", "sv", code, overrides=tmp_path)
    assert shipped == render("identity_code", "sv", code)


def test_an_override_without_a_subject_line_is_refused(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "request_closed_unverified.txt").write_text("Hello {{ request_id }}\n")
    with pytest.raises(TemplateProblem, match="Subject"):
        render("request_closed_unverified", "en", {"request_id": "r"}, overrides=tmp_path)
