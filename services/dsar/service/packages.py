"""Access packages of completed requests: built from the systems' answers, sealed with the
request's key, read back for the officer and the requester's download link."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.dsar.db import packages as repo
from services.dsar.domain.package import (
    PACKAGE_TYPES,
    ControllerInfo,
    RequestFacts,
    SystemAnswer,
    build_package,
)
from services.dsar.service.request_keys import RequestKeys, open_value, seal_value
from services.dsar.service.summary import render_summary
from shared.audit.outbox import AuditEvent, record_event
from shared.errors import Conflict, NotFound
from shared.keys import Keyring

PACKAGE_FIELD = "package"
SUMMARY_FIELD = "summary"
# The same variables (and placeholders) the consent service prints on its receipts.
CONTROLLER_DEFAULTS = ("Lupa data controller", "privacy@lupa.invalid", "FI")


@dataclass(frozen=True)
class StoredPackage:
    package: dict[str, Any]
    summary_html: str
    created_at: datetime


def controller_from_env(env: Mapping[str, str] = os.environ) -> ControllerInfo:
    """The controller named in packages: ``LUPA_CONTROLLER_NAME``, ``LUPA_CONTROLLER_CONTACT``
    and ``LUPA_JURISDICTION``, as the consent service reads them."""
    name, contact, jurisdiction = CONTROLLER_DEFAULTS
    return ControllerInfo(
        name=env.get("LUPA_CONTROLLER_NAME") or name,
        contact=env.get("LUPA_CONTROLLER_CONTACT") or contact,
        jurisdiction=env.get("LUPA_JURISDICTION") or jurisdiction,
    )


async def store_package(
    session: AsyncSession,
    keyring: Keyring,
    request_id: uuid.UUID,
    package: dict[str, Any],
    summary_html: str,
) -> None:
    """Seal the package and its summary with the request's key and store them."""
    dek = await RequestKeys(session, keyring).data_key(request_id)
    package_ct = seal_value(dek, request_id, PACKAGE_FIELD, json.dumps(package).encode())
    summary_ct = seal_value(dek, request_id, SUMMARY_FIELD, summary_html.encode())
    await repo.upsert_package(session, request_id, package_ct, summary_ct)
    systems = package.get("systems", [])
    await record_event(
        session,
        AuditEvent(
            service="dsar",
            type="package.stored",
            subject=str(request_id),
            data={"format": package.get("format"), "systems": len(systems)},
        ),
    )


async def read_package(
    session: AsyncSession, keyring: Keyring, request_id: uuid.UUID
) -> StoredPackage:
    """The stored package; ``NotFound`` before completion and for requests without one."""
    row = await repo.package_row(session, request_id)
    if row is None:
        raise NotFound("This request has no package (not completed, or not an access request).")
    dek = await RequestKeys(session, keyring).data_key(request_id)
    package = json.loads(open_value(dek, request_id, PACKAGE_FIELD, row.package_ct))
    summary = open_value(dek, request_id, SUMMARY_FIELD, row.summary_ct).decode()
    return StoredPackage(package, summary, row.created_at)


async def build_and_store(
    session: AsyncSession,
    keyring: Keyring,
    request_id: uuid.UUID,
    controller: ControllerInfo | None = None,
) -> dict[str, Any]:
    """Build the package of a completed access or portability request from its jobs' answers,
    render its summary and store both; the package built."""
    request = await request_facts(session, request_id)
    if request.type not in PACKAGE_TYPES:
        raise Conflict(f"A {request.type} request has no package.")
    systems = await system_answers(session, keyring, request_id, "access")
    package = build_package(
        request, systems, controller or controller_from_env(), datetime.now(UTC)
    )
    await store_package(session, keyring, request_id, package, render_summary(package))
    return package


async def request_facts(
    session: AsyncSession, request_id: uuid.UUID, *, completed: bool = True
) -> RequestFacts:
    """The request as packages and receipts name it; ``completed``: refuse an open one."""
    row = await repo.request_row(session, request_id)
    if row is None:
        raise NotFound("There is no such request.")
    if completed and row.status != "completed":
        raise Conflict("The request is not completed yet.")
    return RequestFacts(row.id, row.type, row.locale, row.received_at, row.completed_at)


async def system_answers(
    session: AsyncSession, keyring: Keyring, request_id: uuid.UUID, action: str
) -> list[SystemAnswer]:
    """Each system's final answer to the request's jobs of ``action``, its data opened."""
    rows = await repo.job_rows(session, request_id, action)
    # An erasure's jobs carry no data: their answers read even after the key is shredded.
    sealed = any(row.result_ct is not None for row in rows)
    dek = await RequestKeys(session, keyring).data_key(request_id) if sealed else b""
    answers = []
    for row in rows:
        data = None
        if row.result_ct is not None:
            opened = open_value(dek, request_id, f"job:{row.id}", row.result_ct)
            data = json.loads(opened)
            data = data if isinstance(data, dict) else {"value": data}
        answers.append(SystemAnswer(row.connector, row.status, row.reason, data))
    return answers
