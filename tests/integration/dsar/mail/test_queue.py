"""The outgoing queue: a mail is stored sealed in the caller's transaction, wakes the worker
on commit, is sent once even with two workers, and lands as an ``.eml`` file without SMTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.dsar.mail.settings import MailSettings
from services.dsar.mail.templates import TemplateProblem
from services.dsar.mail.transport import EmlDirectoryTransport, transport_from_env
from services.dsar.service.mail import queue_mail, send_due_mail
from services.dsar.service.request_keys import RequestKeys
from shared.audit.outbox import AuditEvent, record_event
from shared.keys import Keyring
from tests.integration.dsar.mail.queue_helpers import audit_types, mail_row

NewRequest = Callable[[], Coroutine[Any, Any, uuid.UUID]]
SETTINGS = MailSettings()


def received_context(request_id: uuid.UUID) -> dict[str, Any]:
    return {"request_id": str(request_id), "request_type": "erasure", "due_at": datetime.now(UTC)}


async def queue_received(
    session_factory: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    request_id: uuid.UUID,
    to: str,
    settings: MailSettings = SETTINGS,
) -> uuid.UUID:
    async with session_factory() as session, session.begin():
        return await queue_mail(
            session,
            keyring,
            request_id,
            "request_received",
            "fi",
            to,
            received_context(request_id),
            settings=settings,
        )


def eml_files_to(directory: Path, to: str) -> list[Any]:
    parser = BytesParser(policy=policy.default)
    messages = [parser.parsebytes(path.read_bytes()) for path in directory.glob("*.eml")]
    return [message for message in messages if message["To"] == to]


async def test_the_queued_message_is_sealed_at_rest(
    session_factory: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    keyring: Keyring,
    new_request: NewRequest,
) -> None:
    request_id = await new_request()
    to = f"sealed.{uuid.uuid4().hex[:8]}@example.org"
    mail_id = await queue_received(session_factory, keyring, request_id, to)
    row = await mail_row(engine, mail_id)
    assert (row.status, row.template, row.request_id) == ("queued", "request_received", request_id)
    assert to.encode() not in row.message_ct
    assert b"Subject" not in row.message_ct


async def test_a_bad_template_fails_the_callers_transaction(
    session_factory: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    keyring: Keyring,
    new_request: NewRequest,
) -> None:
    request_id = await new_request()
    with pytest.raises(TemplateProblem, match="due_at"):
        async with session_factory() as session, session.begin():
            await queue_mail(
                session,
                keyring,
                request_id,
                "request_received",
                "en",
                "a@example.org",
                {"request_id": str(request_id), "request_type": "access"},
                settings=SETTINGS,
            )
    async with engine.connect() as connection:
        count = await connection.scalar(
            text("SELECT count(*) FROM dsar_outgoing_mail WHERE request_id = :id"),
            {"id": request_id},
        )
    assert count == 0


async def test_queueing_wakes_the_worker_when_the_transaction_commits(
    session_factory: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    database_url: str,
    new_request: NewRequest,
) -> None:
    request_id = await new_request()
    woken = asyncio.Event()
    listener = await asyncpg.connect(database_url)
    try:
        await listener.add_listener("dsar_mail", lambda *_: woken.set())
        async with session_factory() as session, session.begin():
            await queue_mail(
                session,
                keyring,
                request_id,
                "request_closed_unverified",
                "en",
                "a@example.org",
                {"request_id": str(request_id)},
                settings=SETTINGS,
            )
            # A round trip on the listener: a notification sent before it would be in by now.
            await listener.fetchval("SELECT 1")
            await asyncio.sleep(0)
            assert not woken.is_set()  # not before commit
        await asyncio.wait_for(woken.wait(), timeout=5)
    finally:
        await listener.close()


async def test_without_smtp_the_worker_writes_parseable_eml_files(
    session_factory: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    keyring: Keyring,
    new_request: NewRequest,
    tmp_path: Path,
) -> None:
    request_id = await new_request()
    to = f"eml.{uuid.uuid4().hex[:8]}@example.org"
    mail_id = await queue_received(session_factory, keyring, request_id, to)
    transport = transport_from_env({}, tmp_path)

    # Other tests' mail may be due in this shared database too: drain the queue, not 20.
    sent = await send_due_mail(session_factory, keyring, transport, limit=10_000, settings=SETTINGS)
    assert sent >= 1

    [message] = eml_files_to(tmp_path / "mail", to)
    assert message["Subject"] == "Pyyntösi on vastaanotettu"
    assert str(request_id) in message.get_content()
    assert (await mail_row(engine, mail_id)).message_ct is None


async def test_an_operator_template_is_used_for_queued_mail(
    session_factory: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    new_request: NewRequest,
    tmp_path: Path,
) -> None:
    overrides = tmp_path / "templates"
    (overrides / "fi").mkdir(parents=True)
    (overrides / "fi" / "request_received.txt").write_text(
        "Subject: Esimerkki Oy sai pyyntösi\n\nHei, pyyntösi {{ request_id }} on meillä.\n"
    )
    settings = MailSettings(templates=overrides)
    request_id = await new_request()
    to = f"override.{uuid.uuid4().hex[:8]}@example.org"
    await queue_received(session_factory, keyring, request_id, to, settings=settings)
    outbox = tmp_path / "out"
    await send_due_mail(session_factory, keyring, EmlDirectoryTransport(outbox), settings=settings)
    [message] = eml_files_to(outbox, to)
    assert message["Subject"] == "Esimerkki Oy sai pyyntösi"


async def test_two_workers_send_each_mail_once(
    session_factory: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    new_request: NewRequest,
    tmp_path: Path,
) -> None:
    request_id = await new_request()
    addresses = [f"pair{n}.{uuid.uuid4().hex[:8]}@example.org" for n in range(6)]
    for to in addresses:
        await queue_received(session_factory, keyring, request_id, to)
    transport = EmlDirectoryTransport(tmp_path)

    await asyncio.gather(
        send_due_mail(session_factory, keyring, transport, settings=SETTINGS),
        send_due_mail(session_factory, keyring, transport, settings=SETTINGS),
    )

    assert [len(eml_files_to(tmp_path, to)) for to in addresses] == [1] * 6


async def test_mail_of_a_shredded_request_is_given_up_unsent(
    session_factory: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    keyring: Keyring,
    new_request: NewRequest,
    tmp_path: Path,
) -> None:
    request_id = await new_request()
    to = f"shred.{uuid.uuid4().hex[:8]}@example.org"
    mail_id = await queue_received(session_factory, keyring, request_id, to)
    async with session_factory() as session, session.begin():
        await RequestKeys(session, keyring).shred(request_id)
        await record_event(
            session,
            AuditEvent(service="dsar", type="request.shredded", subject=str(request_id), data={}),
        )

    await send_due_mail(
        session_factory, keyring, EmlDirectoryTransport(tmp_path), settings=SETTINGS
    )

    assert eml_files_to(tmp_path, to) == []
    row = await mail_row(engine, mail_id)
    assert (row.status, row.message_ct) == ("failed", None)
    assert [kind for kind, _ in await audit_types(engine, request_id)][-1] == "mail.failed"
