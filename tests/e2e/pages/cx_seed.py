"""Seeding the stack for the CX dashboard's browser test and the screenshots: a purpose, a
subject who granted and withdrew through the API, and the reason they gave, written as the
preference centre writes it (its pages are built in parallel)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shared.audit.outbox import audited_sessions
from shared.db.engine import create_engine
from shared.keys import load_keyring
from shared.settings import DatabaseSettings, keys_path, sqlalchemy_url
from tests.api.pages.cx.feedback_rows import add_feedback


def withdraw_with_reason(
    stack: Any, purpose: str, external_id: str, reason: str, free_text: str
) -> None:
    admin = stack.token("admin")
    status, _ = stack.call(
        stack.consent,
        "PUT",
        f"/v1/purposes/{purpose}",
        admin,
        {
            "legal_basis": "consent",
            "title": {"en": "Newsletter", "fi": "Uutiskirje", "sv": "Nyhetsbrev"},
            "channels": ["email"],
        },
    )
    assert status in (200, 201)
    status, _ = stack.call(
        stack.consent,
        "PUT",
        f"/v1/subjects/{external_id}",
        admin,
        {"email": f"{external_id}@example.com", "locale": "fi"},
    )
    assert status in (200, 201)
    for action in ("grant", "withdraw"):
        status, _ = stack.call(
            stack.consent,
            "POST",
            f"/v1/subjects/{external_id}/consents",
            admin,
            {"purpose": purpose, "channel": "email", "action": action},
        )
        assert status == 201
    # Playwright's sync API keeps an event loop running in this thread: run ours in another.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _feedback(stack, external_id, purpose, reason, free_text)).result()


async def _feedback(stack: Any, external_id: str, purpose: str, reason: str, note: str) -> None:
    engine = create_engine(DatabaseSettings(url=sqlalchemy_url(stack.env["DATABASE_URL"])))
    try:
        keyring = load_keyring(keys_path(stack.env), stack.env)
        await add_feedback(
            audited_sessions(engine), keyring, external_id, "withdrawal", reason, note, purpose
        )
    finally:
        await engine.dispose()
