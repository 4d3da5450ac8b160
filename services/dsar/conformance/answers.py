"""Judging what a connector says: the body of a 200 or of a callback, and a callback's signature.

Pure functions over bytes, so each rule of the protocol reads as one short test.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.dsar.domain.connectors import STATUSES
from shared.standard_webhooks import BadSignature, verify


class ProtocolViolation(Exception):
    """What a connector answered breaks the protocol; the message says how (no body echoed)."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: str
    data: dict[str, Any] | None
    reason: str | None


def parse_answer(action: str, body: bytes) -> Answer:
    """The answer in ``body``: a JSON object whose ``status`` is done, not_found or exempt."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ProtocolViolation("the body is not JSON") from None
    if not isinstance(document, dict):
        raise ProtocolViolation("the body is not a JSON object")
    status = document.get("status")
    if status not in STATUSES:
        raise ProtocolViolation(f"status must be one of {', '.join(STATUSES)}")
    data = document.get("data")
    if data is not None and not isinstance(data, dict):
        raise ProtocolViolation("data must be a JSON object")
    if action == "access" and status == "done" and data is None:
        raise ProtocolViolation("an access answered 'done' must carry data (what is held)")
    reason = document.get("reason")
    if status == "exempt" and (not isinstance(reason, str) or not reason.strip()):
        raise ProtocolViolation("an 'exempt' answer must give its legal ground in reason")
    return Answer(status, data, reason if isinstance(reason, str) else None)


def check_callback_signature(
    secret: str, job_id: str, headers: Mapping[str, str], body: bytes
) -> None:
    """A callback must be signed as Standard Webhooks with the job's id as ``webhook-id``."""
    try:
        message_id = verify(secret, headers, body)
    except BadSignature as exc:
        raise ProtocolViolation(f"the callback's signature does not verify ({exc})") from None
    if message_id != job_id:
        raise ProtocolViolation("the callback's webhook-id is not the job id")
