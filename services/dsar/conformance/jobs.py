"""Sending one signed job to a connector and waiting for its answer (direct, or by callback)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.dsar.conformance.answers import (
    Answer,
    ProtocolViolation,
    check_callback_signature,
    parse_answer,
)
from services.dsar.conformance.callbacks import CallbackServer
from shared.audit.webhooks import signed_headers


@dataclass(frozen=True, slots=True)
class Job:
    action: str
    request: str
    identity: dict[str, str]
    changes: dict[str, str] | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def body(self, callback_url: str) -> bytes:
        document: dict[str, Any] = {
            "job": self.id,
            "request": self.request,
            "action": self.action,
            "identity": self.identity,
            "callback_url": callback_url,
        }
        if self.changes is not None:
            document["changes"] = self.changes
        return json.dumps(document).encode()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one delivery: an answer, or why there is none; and how long it took."""

    seconds: float
    http_status: int | None = None
    answer: Answer | None = None
    via_callback: bool = False
    error: str | None = None


@dataclass
class Sender:
    """Signs and posts jobs to ``url``; collects callbacks on ``callbacks``."""

    client: httpx.Client
    url: str
    secret: str
    callbacks: CallbackServer
    timeout: float

    def post(
        self, job: Job, *, signing_secret: str | None = None, timestamp: int | None = None
    ) -> tuple[int | None, bytes, float, str | None]:
        """(HTTP status, body, seconds, transport error) of one delivery of ``job``."""
        body = job.body(self.callbacks.url_for(job.id))
        headers = {
            "Content-Type": "application/json",
            **signed_headers(signing_secret or self.secret, job.id, body, timestamp),
        }
        started = time.monotonic()
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return None, b"", time.monotonic() - started, f"no answer within {self.timeout:g} s"
        except httpx.HTTPError as exc:
            return None, b"", time.monotonic() - started, f"cannot reach it ({type(exc).__name__})"
        return response.status_code, response.content, time.monotonic() - started, None

    def run(self, job: Job) -> Outcome:
        """Deliver a correctly signed ``job`` and judge the answer."""
        seen = self.callbacks.count(job.id)  # a repeat's callback is a new one
        started = time.monotonic()
        status, body, seconds, error = self.post(job)
        if error is not None:
            return Outcome(seconds, error=error)
        if status == 202:
            return self._await_callback(job, started, seen)
        if status != 200:
            return Outcome(seconds, http_status=status, error=f"answered HTTP {status}")
        try:
            return Outcome(seconds, http_status=status, answer=parse_answer(job.action, body))
        except ProtocolViolation as exc:
            return Outcome(seconds, http_status=status, error=str(exc))

    def _await_callback(self, job: Job, started: float, seen: int) -> Outcome:
        callback = self.callbacks.wait(job.id, started + self.timeout, seen)
        if callback is None:
            waited = time.monotonic() - started
            return Outcome(waited, 202, error=f"202, but no callback within {self.timeout:g} s")
        seconds = callback.arrived - started
        try:
            check_callback_signature(self.secret, job.id, callback.headers, callback.body)
            answer = parse_answer(job.action, callback.body)
        except ProtocolViolation as exc:
            return Outcome(seconds, 202, via_callback=True, error=str(exc))
        return Outcome(seconds, 202, answer=answer, via_callback=True)
