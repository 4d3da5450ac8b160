"""The human summary is a self-contained page in the request's language, layered from the
short answer down to the data, and escapes whatever the systems returned."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

import pytest

from services.dsar.domain.package import SystemAnswer, build_package
from services.dsar.service.summary import render_summary
from tests.unit.dsar.package.samples import CONTROLLER, GENERATED, consent_data, request, systems


def summary(locale: str, answers: list[SystemAnswer] | None = None, **kw: bool) -> str:
    package = build_package(request(locale=locale), answers or systems(), CONTROLLER, GENERATED)
    return render_summary(package, **kw)


class Headings(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.h2: list[str] = []
        self.attrs_seen: list[tuple[str, str | None]] = []
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_h2 = tag == "h2"
        self.attrs_seen += [(f"{tag}.{k}", v) for k, v in attrs]

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.h2.append(data.strip())
            self._in_h2 = False


@pytest.mark.parametrize(
    ("locale", "layers"),
    [
        ("fi", ["Lyhyesti", "Mihin käytämme tietojasi", "Tietosi kokonaisuudessaan", "Oikeutesi"]),
        (
            "sv",
            [
                "I korthet",
                "Varför vi använder dina uppgifter",
                "Dina uppgifter i sin helhet",
                "Dina rättigheter",
            ],
        ),
        ("en", ["In short", "Why we use your data", "Your data in full", "Your rights"]),
    ],
)
def test_the_page_is_layered_in_the_request_language(locale, layers):
    page = summary(locale)
    parser = Headings()
    parser.feed(page)
    assert parser.h2 == layers
    assert f'<html lang="{locale}">' in page


def test_the_short_answer_says_which_system_holds_what_in_plain_words():
    page = summary("fi")
    assert "<strong>consent</strong> \u2013 sisältää sinua koskevia tietoja: yhteystietosi" in page
    assert "<strong>shop</strong> \u2013 ei sisällä sinua koskevia tietoja" in page
    assert "Syy: Kirjanpitolaki 2:10" in page
    assert "Tämä on vastauksemme 20.11.2026 tekemääsi pyyntöön" in page


def test_each_purpose_lists_its_article_15_items_in_the_language():
    page = summary("sv")
    assert "<h3>Nyhetsbrev</h3>" in page
    assert "ditt samtycke" in page and "vårt berättigade intresse" in page
    assert "30 dagar" in page and "Mailer Ltd" in page
    assert "Inga mottagare" in page  # the purpose with no recipients says so


def test_the_data_appears_in_tables():
    page = summary("en")
    assert "<td>maija@example.com</td>" in page
    assert '<th scope="col">total</th>' in page and "<td>12.50</td>" in page


def test_rights_and_the_finnish_supervisory_authority_are_named():
    page = summary("fi")
    assert "vaatia virheellisten tietojen oikaisemista" in page
    assert "tietosuojavaltuutetun toimistolle" in page
    assert '<a href="https://tietosuoja.fi">tietosuoja.fi</a>' in page
    assert "tietosuoja@esimerkki.fi" in page


def test_markup_in_a_systems_answer_is_shown_as_text():
    data = consent_data(name='<script>alert("x")</script>')
    page = summary("en", [SystemAnswer("consent", "done", data=data)])
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_the_page_loads_nothing_from_elsewhere():
    parser = Headings()
    parser.feed(summary("en"))
    fetched = [v for k, v in parser.attrs_seen if k.endswith((".src", "link.href"))]
    assert fetched == []


def test_the_page_offers_the_json_package_itself_as_a_file():
    page = summary("en")
    href = re.search(r'href="data:application/json;base64,([^"]+)" download="([^"]+)"', page)
    assert href is not None
    embedded = json.loads(base64.b64decode(href.group(1)))
    assert embedded["format"] == "lupa-access-package/1"
    assert href.group(2).startswith("access-package-")
    assert "data:application/json" not in summary("en", embed_json=False)


def test_a_portability_answer_says_it_returns_what_the_person_gave():
    package = build_package(request("portability", "en"), systems(), CONTROLLER, GENERATED)
    page = render_summary(package)
    assert "to receive the personal data you have given us" in page
    assert "the history of your consent changes" not in page  # the ledger is not theirs to port
