"""Telling the requester: each notice of the workflow is a mail queued in the step's own
transaction (sent by the worker after commit), in the request's language.

A request that came with no address (a portal request that named none) gets no mail; the
portal shows its status instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.dsar.db.requests import RequestRow
from services.dsar.service.mail import queue_mail
from services.dsar.service.request_keys import RequestKeys, open_value
from shared.keys import Keyring


async def tell(
    session: AsyncSession,
    keyring: Keyring,
    row: RequestRow,
    template: str,
    context: dict[str, Any],  # the template's variables; free-form by template
    *,
    to: str | None = None,
) -> bool:
    """Queue ``template`` for the requester; False when there is no address to write to."""
    if to is None:
        if row.email_ct is None or row.kek_id is None or row.wrapped_key is None:
            return False
        dek = RequestKeys(session, keyring).open_key(row.id, row.kek_id, row.wrapped_key)
        to = open_value(dek, row.id, "email", row.email_ct).decode()
    full = {"request_id": str(row.id), "request_type": row.type, "due_at": row.due_at, **context}
    await queue_mail(session, keyring, row.id, template, row.locale, to, full)
    return True
