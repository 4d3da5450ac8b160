"""The route table of docs/security.md, generated from the consent app's own guards.

Print it with ``.venv/bin/python -m tests.route_table``; ``tests/unit/test_route_table_docs.py``
fails while the page and the app disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Litestar

from shared.auth.guards import route_roles

SECURITY_DOCS = Path(__file__).resolve().parents[1] / "docs" / "security.md"
HEADER = ["| Route | Roles |", "|---|---|"]
DSAR_HEADER = ["| DSAR route | Roles |", "|---|---|"]


def is_page(handler: Any) -> bool:
    """A web page's (or /static's) handler: not API, so not in the OpenAPI document. The
    OPTIONS handlers Litestar adds itself are left out of the schema too, but are no page."""
    methods = set(getattr(handler, "http_methods", ()))
    return bool(methods - {"OPTIONS"}) and not handler.resolve_include_in_schema()


def page_routes(app: Litestar) -> set[str]:
    """The paths of the web pages and /static (the OpenAPI viewer under /schema is judged as
    it always was)."""
    return {
        route.path
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if is_page(handler) and not route.path.startswith("/schema")
    }


def consent_app() -> Litestar:
    """The app as ``lupa serve consent`` builds it; nothing connects until its lifespan runs."""
    from services.consent.app import create_app
    from shared.keys import Keyring
    from shared.settings import DatabaseSettings, HttpSettings, Settings

    settings = Settings(
        "consent", DatabaseSettings("postgresql+asyncpg://x/x"), HttpSettings(), Path("unused")
    )
    return create_app(settings, keyring=Keyring.generate())


def dsar_app() -> Litestar:
    """The DSAR app as ``lupa serve dsar`` builds it (nothing connects before its lifespan)."""
    from services.dsar.app import create_app
    from shared.keys import Keyring
    from shared.settings import DatabaseSettings, HttpSettings, Settings

    settings = Settings(
        "dsar", DatabaseSettings("postgresql+asyncpg://x/x"), HttpSettings(), Path("unused")
    )
    return create_app(settings, keyring=Keyring.generate())


def route_rows(app: Litestar) -> list[str]:
    """One Markdown row per method and route, ordered by path then method."""
    routes = sorted(route_roles(app), key=lambda route: (route[1], route[0]))
    return [
        f"| `{method} {path}` | {', '.join(roles) if roles else 'public'} |"
        for method, path, roles in routes
    ]


def documented_rows(page: Path = SECURITY_DOCS, header: list[str] = HEADER) -> list[str]:
    """The rows of the table under ``header`` in ``page``."""
    lines = page.read_text().splitlines()
    start = lines.index(header[0]) + len(header)
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


if __name__ == "__main__":
    print("\n".join(HEADER + route_rows(consent_app())))
    print()
    print("\n".join(DSAR_HEADER + route_rows(dsar_app())))
