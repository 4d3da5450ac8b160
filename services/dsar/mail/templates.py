"""The mail templates: plain text, one file per name and language, ``Subject: ...`` on the
first line, a blank line, then the body. An operator's directory (``LUPA_MAIL_TEMPLATES``)
shadows the shipped files one by one; what it lacks falls back to the shipped file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

SHIPPED = Path(__file__).parent / "templates"
LOCALES = ("en", "fi", "sv")
DEFAULT_LOCALE = "en"
TEMPLATE_NAMES = (
    "identity_code",
    "request_received",
    "request_extended",
    "request_rejected",
    "awaiting_requester",
    "request_completed",
    "package_ready",
    "erasure_receipt",
    "restriction_lifting",
    "request_closed_unverified",
)
# Requesters read times on a Finnish clock, whatever zone the server runs in.
LOCAL_ZONE = ZoneInfo("Europe/Helsinki")
_TIME_FORMATS = {
    "en": "%-d %B %Y at %H:%M (Finnish time)",
    "fi": "%-d.%-m.%Y klo %H.%M (Suomen aikaa)",
    "sv": "%-d.%-m.%Y kl. %H.%M (finsk tid)",
}
_DATE_FORMATS = {"en": "%-d %B %Y", "fi": "%-d.%-m.%Y", "sv": "%-d.%-m.%Y"}
REQUEST_TYPES = {
    "en": {
        "access": "access to your data",
        "portability": "a copy of your data in a portable format",
        "rectification": "correction of your data",
        "erasure": "erasure of your data",
        "restriction": "restriction of processing",
        "objection": "objection to processing",
    },
    "fi": {
        "access": "tietojesi tarkastaminen",
        "portability": "tietojesi siirtäminen",
        "rectification": "tietojesi oikaiseminen",
        "erasure": "tietojesi poistaminen",
        "restriction": "käsittelyn rajoittaminen",
        "objection": "käsittelyn vastustaminen",
    },
    "sv": {
        "access": "tillgång till dina uppgifter",
        "portability": "överföring av dina uppgifter",
        "rectification": "rättelse av dina uppgifter",
        "erasure": "radering av dina uppgifter",
        "restriction": "begränsning av behandlingen",
        "objection": "invändning mot behandlingen",
    },
}


class TemplateProblem(ValueError):
    """A template is missing, malformed, or needs a variable the caller did not give."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def supported_locale(locale: str) -> str:
    return locale if locale in LOCALES else DEFAULT_LOCALE


@jinja2.pass_context
def _local_time(context: jinja2.runtime.Context, value: datetime) -> str:
    return value.astimezone(LOCAL_ZONE).strftime(_TIME_FORMATS[context["locale"]])


@jinja2.pass_context
def _local_date(context: jinja2.runtime.Context, value: datetime) -> str:
    return value.astimezone(LOCAL_ZONE).strftime(_DATE_FORMATS[context["locale"]])


@jinja2.pass_context
def _request_type(context: jinja2.runtime.Context, value: str) -> str:
    return REQUEST_TYPES[context["locale"]].get(value, value)


@lru_cache(maxsize=8)
def environment(overrides: Path | None) -> jinja2.Environment:
    """Templates from ``overrides`` first, then the shipped ones; every variable required."""
    search = [str(overrides), str(SHIPPED)] if overrides else [str(SHIPPED)]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search, encoding="utf-8"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 (plain-text mail: there is no HTML to escape)
        keep_trailing_newline=True,
    )
    env.filters.update(local_time=_local_time, local_date=_local_date, request_type=_request_type)
    return env


def render(
    name: str, locale: str, context: Mapping[str, Any], overrides: Path | None = None
) -> Rendered:
    """The subject and body of template ``name`` in ``locale`` (en when not supported)."""
    if name not in TEMPLATE_NAMES:
        raise TemplateProblem(f"unknown mail template {name!r}")
    locale = supported_locale(locale)
    try:
        template = environment(overrides).get_template(f"{locale}/{name}.txt")
        text = template.render({**context, "locale": locale})
    except jinja2.TemplateNotFound as missing:
        raise TemplateProblem(f"mail template {missing.name} not found") from None
    except jinja2.UndefinedError as undefined:
        raise TemplateProblem(f"mail template {locale}/{name}: {undefined.message}") from None
    return _split(text, f"{locale}/{name}")


def _split(text: str, where: str) -> Rendered:
    head, blank, body = text.partition("\n\n")
    if not head.startswith("Subject:") or "\n" in head or not blank:
        raise TemplateProblem(f"mail template {where}: must start 'Subject: ...' and a blank line")
    subject = head.removeprefix("Subject:").strip()
    if not subject:
        raise TemplateProblem(f"mail template {where}: the subject is empty")
    return Rendered(subject=subject, body=body)
