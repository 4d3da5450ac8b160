"""The web pages among an app's routes: they are not API (left out of the OpenAPI document, so
the document's judges cannot describe them); their own tests (tests/api/pages/) cover their
guards, texts and audit events."""

from __future__ import annotations

from litestar import Litestar


def page_routes(app: Litestar) -> set[tuple[str, str]]:
    """(method, path) of every route left out of the OpenAPI document."""
    out: set[tuple[str, str]] = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not handler.resolve_include_in_schema():
                out.update((method, route.path) for method in handler.http_methods)
    return out
