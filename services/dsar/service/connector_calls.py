"""One call of the connector protocol: the signed job body, the POST, and the strict reading
of the answer (the same rules serve a callback's body).

Errors are short sentences about the exchange (status codes, timeouts, which member was
wrong), never the connector's words: an answer may echo the personal data it was sent.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import msgspec

from shared.audit.webhooks import signed_headers

FinalStatus = Literal["done", "not_found", "exempt"]


@dataclass(frozen=True)
class Identity:
    external_id: str | None
    email: str | None
    phone: str | None = None


@dataclass(frozen=True)
class JobCall:
    """What is sent to a connector for one job."""

    job_id: uuid.UUID
    request_id: uuid.UUID
    action: str
    identity: Identity
    callback_url: str
    changes: dict[str, Any] | None = None


def job_body(call: JobCall) -> bytes:
    body: dict[str, Any] = {
        "job": str(call.job_id),
        "request": str(call.request_id),
        "action": call.action,
        "identity": {
            "external_id": call.identity.external_id,
            "email": call.identity.email,
            "phone": call.identity.phone,
        },
        "callback_url": call.callback_url,
    }
    if call.action == "rectification":
        body["changes"] = call.changes or {}
    return json.dumps(body, separators=(",", ":")).encode()


def callback_url(public_base_url: str, job_id: uuid.UUID) -> str:
    return f"{public_base_url.rstrip('/')}/v1/jobs/{job_id}/callback"


class _Answer(msgspec.Struct):
    status: FinalStatus
    data: dict[str, Any] | None = None
    reason: str | None = None


@dataclass(frozen=True)
class FinalAnswer:
    """A connector's last word on a job."""

    status: FinalStatus
    data: dict[str, Any] | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Waiting:
    """202: the connector works on it and will POST the callback."""


@dataclass(frozen=True)
class CallError:
    """Anything else; ``error`` holds no personal data."""

    error: str


Outcome = FinalAnswer | Waiting | CallError


class InvalidAnswer(ValueError):
    """The body breaks the protocol; the message names only what was wrong."""


_MISSING = re.compile(r"missing required field `(\w+)`")
_AT = re.compile(r"at `([$\w.\[\]]+)`")


def _validation_message(exc: msgspec.ValidationError) -> str:
    missing = _MISSING.search(str(exc))
    if missing:
        return f"missing {missing.group(1)}"
    where = _AT.search(str(exc))
    return f"bad value at {where.group(1)}" if where else "not an answer object"


def parse_answer(body: bytes, action: str) -> FinalAnswer:
    """The final answer in ``body``, or InvalidAnswer (see the connector protocol)."""
    try:
        answer = msgspec.json.decode(body, type=_Answer)
    except msgspec.ValidationError as exc:
        raise InvalidAnswer(_validation_message(exc)) from None
    except msgspec.DecodeError:
        raise InvalidAnswer("not JSON") from None
    if answer.status == "exempt" and not (answer.reason or "").strip():
        raise InvalidAnswer("exempt needs a reason")
    if answer.data is not None and action != "access":
        raise InvalidAnswer("data is only for access")
    return FinalAnswer(answer.status, answer.data, answer.reason)


async def call_connector(
    client: httpx.AsyncClient, url: str, secret: str, call: JobCall, timeout_s: float
) -> Outcome:
    """POST the signed job; ``webhook-id`` is the job id, so a retry carries the same id."""
    body = job_body(call)
    headers = {"Content-Type": "application/json", **signed_headers(secret, str(call.job_id), body)}
    try:
        response = await client.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.TimeoutException:
        return CallError(f"timeout after {timeout_s:g} s")
    except httpx.HTTPError as exc:
        return CallError(f"connection failed ({type(exc).__name__})")
    if response.status_code == 202:
        return Waiting()
    if response.status_code != 200:
        return CallError(f"HTTP {response.status_code}")
    try:
        return parse_answer(response.content, call.action)
    except InvalidAnswer as exc:
        return CallError(f"invalid answer: {exc}")
