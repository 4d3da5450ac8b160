"""What the services' web pages share: the Jinja2 templates (autoescaped; ``base.html`` with the
language switch, a skip link and the local style sheet) and ``/static`` (served by the service
itself, so the pages work offline and need no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from shared.security_headers import PAGE_POLICY

WEB = Path(__file__).resolve().parent
TEMPLATES = WEB / "templates"
STATIC = WEB / "static"
# Every page's answer: no inline script or style, never framed (clickjacking), no form posting
# elsewhere, nothing cached; links carry tokens, so no Referer leaves either.
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def template_config(directories: Sequence[Path]) -> TemplateConfig[JinjaTemplateEngine]:
    """A service's template directories first, then the shared ones (``base.html``)."""
    return TemplateConfig(directory=[*directories, TEMPLATES], engine=JinjaTemplateEngine)


def static_router(directories: Sequence[Path] = ()) -> Any:
    return create_static_files_router(
        path="/static",
        directories=[*directories, STATIC],
        opt={"public": True, "database": False},
        include_in_schema=False,
    )
