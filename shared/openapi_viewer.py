"""The OpenAPI viewer at ``/schema``: Swagger UI served from the installed package, not a CDN,
so the page works offline and behind egress filters."""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router

ASSETS_PATH = "/schema/assets"  # under /schema: public, like the document itself
SWAGGER_FILES = Path(swagger_ui.__file__).parent / "static"


def viewer() -> SwaggerRenderPlugin:
    """Swagger UI (OpenAPI 3.1) at ``/schema`` and ``/schema/swagger``, every file local."""
    return SwaggerRenderPlugin(
        path="/swagger",
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )


def viewer_assets() -> Router:
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[SWAGGER_FILES],
        name="openapi-assets",
        opt={"public": True},
        cache_control=CacheControlHeader(max_age=86400, public=True),
    )
