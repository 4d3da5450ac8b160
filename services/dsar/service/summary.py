"""The human summary of an access package: one HTML page in the request's language.

Layered: first a short answer (which system holds what), then per purpose the Art. 15(1)
items, then the data itself in tables, then the rights and how to complain. Autoescaped, with
no external assets, so it can be mailed, saved and opened offline.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "summary"
LANGUAGES = ("fi", "sv", "en")
# The consent service's catalogue is shown per purpose, not again as data.
NOT_DATA = frozenset({"purposes"})


@dataclass(frozen=True)
class Table:
    caption: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def texts(lang: str) -> dict[str, Any]:
    catalogue: dict[str, dict[str, Any]] = json.loads(
        (TEMPLATES / "texts.json").read_text(encoding="utf-8")
    )
    return catalogue[lang if lang in LANGUAGES else "en"]


def render_summary(package: Mapping[str, Any], *, embed_json: bool = True) -> str:
    """The summary page of ``package``; with ``embed_json`` it also offers the package itself
    as a file to save (a ``data:`` link), so one download gives the person both."""
    request = package["request"]
    lang = request["locale"] if request["locale"] in LANGUAGES else "en"
    t = texts(lang)
    info = package["information"]
    complaint_url = info["complaint"]["url"]
    intro = t[f"intro_{request['type']}"].format(date=_date(request["received_at"], lang))
    return (
        _environment()
        .get_template("summary.html")
        .render(
            lang=lang,
            t=t,
            intro=intro,
            controller=package["controller"],
            systems=[_system_line(system, t) for system in package["systems"]],
            purposes=[_purpose_view(purpose, lang, t) for purpose in info["purposes"]],
            sources=[
                {"system": s["system"], "text": t["source_names"].get(s["source"], s["source"])}
                for s in info["sources"]
            ],
            tables=[
                {"name": system["name"], "tables": tables_of(system["data"], t)}
                for system in package["systems"]
                if system.get("data")
            ],
            rights=[t["right_names"][right["right"]] for right in info["rights"]],
            contact=t["contact"].format(contact=package["controller"]["contact"]),
            complaint_url=complaint_url,
            complaint_host=urlsplit(complaint_url).hostname or complaint_url,
            json_href=_data_uri(package) if embed_json else None,
            json_name=f"access-package-{request['id']}.json",
        )
    )


def _system_line(system: Mapping[str, Any], t: Mapping[str, Any]) -> dict[str, Any]:
    data = system.get("data") or {}
    kinds = [t["kinds"].get(key, key) for key in data if key not in NOT_DATA and data[key]]
    return {
        "name": system["name"],
        "status": t["status"][system["status"]],
        "kinds": kinds,
        "reason": system.get("reason"),
    }


def _purpose_view(purpose: Mapping[str, Any], lang: str, t: Mapping[str, Any]) -> dict[str, Any]:
    retention = purpose["retention"]
    basis = purpose.get("legal_basis")
    return {
        "system": purpose["system"],
        "title": localised(purpose["title"], lang) or purpose["key"],
        "description": localised(purpose["description"], lang),
        "legal_basis": t["bases"].get(basis, basis or "—"),
        "categories": purpose["categories"],
        "recipients": purpose["recipients"],
        "retention": (
            t["days"].format(n=retention["days"]) if "days" in retention else t["criteria"]
        ),
    }


def localised(values: Mapping[str, str], lang: str) -> str:
    """The text in ``lang``, else English, else any language given."""
    return values.get(lang) or values.get("en") or next(iter(values.values()), "")


def tables_of(data: Mapping[str, Any], t: Mapping[str, Any]) -> list[Table]:
    """One table per member of a system's data: a record as field/value rows, a list of
    records with a column per field, anything else as a single value."""
    tables = []
    for key, value in data.items():
        if key in NOT_DATA:
            continue
        caption = str(t["kinds"].get(key, key))
        if isinstance(value, Mapping):
            rows = [[str(k), cell(v)] for k, v in value.items()]
            tables.append(Table(caption, [t["field"], t["value"]], rows))
        elif isinstance(value, list) and all(isinstance(item, Mapping) for item in value):
            columns = list(dict.fromkeys(k for item in value for k in item))
            rows = [[cell(item.get(c)) for c in columns] for item in value]
            tables.append(Table(caption, [str(c) for c in columns] or [t["value"]], rows))
        else:
            tables.append(Table(caption, [t["value"]], [[cell(value)]]))
    return tables


def cell(value: object) -> str:
    """A value as table text; nested structures as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _date(iso: str, lang: str) -> str:
    day = datetime.fromisoformat(iso)
    if lang == "fi":
        return f"{day.day}.{day.month}.{day.year}"
    if lang == "sv":
        return day.date().isoformat()
    return f"{day.day} {day:%B} {day.year}"


def _data_uri(package: Mapping[str, Any]) -> str:
    body = json.dumps(package, ensure_ascii=False, indent=2).encode()
    return "data:application/json;base64," + base64.b64encode(body).decode("ascii")
