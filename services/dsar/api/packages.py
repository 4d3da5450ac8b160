"""Access packages over HTTP: the officer's download, the requester's single-use link, and
the package's JSON Schema.

``?format=html`` gives the human summary instead of the JSON; the summary carries the JSON
package as a file to save, so one use of a requester's link gives both.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from services.dsar.service.downloads import Format, download_by_link, download_package
from services.dsar.service.packages import StoredPackage
from shared.auth.guards import requires
from shared.auth.tokens import Principal
from shared.keys import Keyring
from shared.public_limits import limited

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schemas" / "access-package.schema.json"
# Personal data: never cached.
PRIVATE = {"Cache-Control": "no-store"}
STYLE_BLOCK = re.compile(r"<style>(.*?)</style>", re.DOTALL)
FormatParam = Annotated[
    Format, QueryParameter(name="format", description="json (default) or html, the summary")
]


@cache
def package_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def page_policy(html: str) -> dict[str, str]:
    """The summary page works as a saved file, so it carries its own ``<style>`` block; the
    policy admits exactly that block by its hash (CSP3), nothing inline besides, no script."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"
        for block in STYLE_BLOCK.findall(html)
    )
    styles = f"style-src {hashes}" if hashes else "style-src 'none'"
    return {"Content-Security-Policy": f"default-src 'none'; {styles}; frame-ancestors 'none'"}


def package_response(stored: StoredPackage, fmt: Format) -> Response[Any]:
    if fmt == "html":
        html = stored.summary_html
        return Response(html, media_type="text/html", headers={**PRIVATE, **page_policy(html)})
    return Response(stored.package, headers=PRIVATE)


class PackageController(Controller):
    path = "/v1"
    tags = ["packages"]

    @get(
        "/requests/{request_id:uuid}/package",
        guards=[requires("officer", "admin")],
        opt={"problems": (404, 409), "also_media_types": ("text/html",)},
        summary="The access/portability package of a completed request (audited)",
    )
    async def get_package(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        principal: NamedDependency[Principal],
        request_id: FromPath[uuid.UUID],
        fmt: FormatParam = "json",
    ) -> Response[Any]:
        by = {"by": "officer", "role": principal.role, "actor": principal.actor}
        return package_response(await download_package(tx, keyring, request_id, by, fmt), fmt)

    @get(
        "/downloads/{token:str}",
        guards=[limited("link", path_param="token")],
        opt={"public": True, "problems": (404, 409, 410, 429), "also_media_types": ("text/html",)},
        summary="The requester's package through their single-use download link",
    )
    async def download(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        token: FromPath[str],
        fmt: FormatParam = "json",
    ) -> Response[Any]:
        return package_response(await download_by_link(tx, keyring, token, fmt), fmt)

    @get(
        "/schemas/access-package.json",
        opt={"public": True, "database": False},
        summary="The JSON Schema (draft 2020-12) of the access package",
    )
    async def get_package_schema(self) -> dict[str, Any]:
        return package_schema()
