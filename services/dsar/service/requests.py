"""Data-subject requests: intake, identity, and every step of the workflow an officer takes.

Each step runs in the caller's transaction and records its audit event there; the event's
subject is the request id (pseudonymous), and its data never holds the requester's address,
a code, a question or a reason in plain text.
"""

from __future__ import annotations

import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.dsar.db import requests as repo
from services.dsar.db.requests import RequestRow
from services.dsar.domain import deadlines, workflow
from services.dsar.service import completion, jobs, notices
from services.dsar.service.request_keys import RequestKeys, open_value, seal_value
from services.dsar.settings import SERVICE, DsarSettings
from shared.audit.outbox import AuditEvent, record_event
from shared.auth.portal import refuse_unbound_portal
from shared.auth.tokens import Principal
from shared.crypto import keyed_hash, normalise_email
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.keys import Keyring


class CodeRejected(InvalidInput):
    slug, title = "code-rejected", "The code is wrong or has expired"


class TooManyAttempts(Conflict):
    slug, title = "too-many-attempts", "Too many wrong codes: the request is closed"


class WrongStatus(Conflict):
    slug, title = "wrong-status", "Not possible in the request's current status"


class AlreadyExtended(Conflict):
    slug, title = "already-extended", "The deadline was already extended once"


@dataclass(frozen=True)
class Intake:
    type: str
    subject: str | None
    email: str | None
    locale: str
    changes: dict[str, str | None] | None


@dataclass(frozen=True)
class Created:
    request: RequestRow
    code_sent: bool


def email_index(keyring: Keyring, email: str) -> bytes:
    return keyed_hash(keyring.index_key, "dsar-email:" + normalise_email(email))


def code_hash(keyring: Keyring, request_id: uuid.UUID, code: str) -> bytes:
    return keyed_hash(keyring.evidence_key, f"dsar-code:{request_id}:{code}")


class RequestService:
    def __init__(self, session: AsyncSession, keyring: Keyring, settings: DsarSettings) -> None:
        self.session = session
        self.keyring = keyring
        self.settings = settings
        self.keys = RequestKeys(session, keyring)

    # Intake and identity

    async def create(self, intake: Intake, principal: Principal | None, now: datetime) -> Created:
        origin, subject, verified_by = _origin(intake, principal)
        request_id = uuid.uuid4()
        dek, kek_id, wrapped = self.keys.new_key(request_id)
        email = normalise_email(intake.email) if intake.email else None
        verified = verified_by is not None
        row = RequestRow(
            id=request_id,
            type=intake.type,
            status="received" if verified else "identity_pending",
            origin=origin,
            subject=subject,
            locale=intake.locale,
            kek_id=kek_id,
            wrapped_key=wrapped,
            email_ct=seal_value(dek, request_id, "email", email.encode()) if email else None,
            email_index=email_index(self.keyring, email) if email else None,
            changes_ct=(
                seal_value(dek, request_id, "changes", json.dumps(intake.changes).encode())
                if intake.changes is not None
                else None
            ),
            verified_at=now if verified else None,
            verified_by=verified_by,
            received_at=now,
            due_at=deadlines.due_at(now),
            paused_at=None if verified else now,
            paused_seconds=0,
            pause_reason=None if verified else "identity",
            question_ct=None,
            extended_months=None,
            extension_reason_ct=None,
            assignee=None,
            duplicate_of=None,
            outcome=None,
            reject_reason_ct=None,
            erasure_receipt=None,
            created_at=now,
            updated_at=now,
            completed_at=None,
        )
        received = _audit(
            row.id, "request.received", type=row.type, origin=origin, verified=verified
        )
        await repo.insert(self.session, row, received)
        code_sent = False
        if not verified and email is not None:
            await self._send_code(row, email, now)
            code_sent = True
        elif email is not None:
            await notices.tell(self.session, self.keyring, row, "request_received", {})
        if verified:
            row = await self._link_if_duplicate(row, now)
        return Created(request=row, code_sent=code_sent)

    async def _send_code(self, row: RequestRow, email: str, now: datetime) -> None:
        identity = self.settings.identity
        code = f"{secrets.randbelow(10**identity.code_digits):0{identity.code_digits}d}"
        expires = now + timedelta(seconds=identity.code_ttl_seconds)
        await repo.put_code(self.session, row.id, code_hash(self.keyring, row.id, code), expires)
        await notices.tell(
            self.session,
            self.keyring,
            row,
            "identity_code",
            {"code": code, "valid_minutes": identity.code_ttl_seconds // 60},
            to=email,
        )
        await self._event(row.id, "identity.code_sent")

    async def verify(self, request_id: uuid.UUID, code: str, now: datetime) -> RequestRow:
        """Check the one-time code. A wrong code counts an attempt; the last allowed wrong
        attempt closes the request as unverified. Commit whatever this does before raising
        (the caller runs it in a transaction of its own)."""
        row = await self._locked(request_id)
        if row.status != "identity_pending":
            raise WrongStatus(workflow.WHY_NOT["verify"])
        stored = await repo.get_code(self.session, request_id)
        if stored is None:
            raise WrongStatus(workflow.WHY_NOT["verify"])
        right = hmac.compare_digest(stored.code_hash, code_hash(self.keyring, request_id, code))
        if right and stored.expires_at > now:
            await repo.delete_code(self.session, request_id)
            resumed = _resume(row, now)
            await repo.update(
                self.session,
                request_id,
                status="received",
                verified_at=now,
                verified_by="email_code",
                pause_reason=None,
                **resumed,
            )
            await self._event(request_id, "identity.verified", by="email_code")
            verified = await self._get(request_id)
            await notices.tell(self.session, self.keyring, verified, "request_received", {})
            return await self._link_if_duplicate(verified, now)
        attempts = stored.attempts + 1
        await repo.count_attempt(self.session, request_id)
        left = self.settings.identity.max_attempts - attempts
        if left <= 0:
            await repo.delete_code(self.session, request_id)
            await self._close(row, now, "rejected", "unverified")
            await notices.tell(self.session, self.keyring, row, "request_closed_unverified", {})
            await self._event(request_id, "identity.failed", attempts=attempts)
            raise TooManyAttempts("The request was closed; send a new request to try again.")
        await self._event(request_id, "identity.code_rejected", attempts=attempts)
        expired = stored.expires_at <= now
        raise CodeRejected(
            "The code has expired; ask for a new one." if expired else "The code is not right.",
            attempts_left=left,
        )

    async def verify_by_officer(
        self, request_id: uuid.UUID, actor: str, now: datetime
    ) -> RequestRow:
        """An officer vouches for the identity of an ``identity_pending`` request (checked
        another way, e.g. by phone): as ``verify`` with the right code, without one."""
        row = await self._locked(request_id)
        if row.status != "identity_pending":
            raise WrongStatus(workflow.WHY_NOT["verify"], current_status=row.status)
        await repo.delete_code(self.session, request_id)
        await repo.update(
            self.session,
            request_id,
            status="received",
            verified_at=now,
            verified_by="officer",
            pause_reason=None,
            **_resume(row, now),
        )
        await self._event(request_id, "identity.verified", by="officer", actor=actor)
        verified = await self._get(request_id)
        await notices.tell(self.session, self.keyring, verified, "request_received", {})
        return await self._link_if_duplicate(verified, now)

    async def resend_code(self, request_id: uuid.UUID, now: datetime) -> None:
        row = await self._locked(request_id)
        if row.status != "identity_pending" or row.email_ct is None:
            raise WrongStatus(workflow.WHY_NOT["verify"])
        await self._send_code(row, self.email_of(row, await self._dek(row)) or "", now)

    async def _link_if_duplicate(self, row: RequestRow, now: datetime) -> RequestRow:
        """A second open request of the same type for the same person rides on the first:
        only once verified itself, and only on a verified one."""
        twin = await repo.open_verified_twin(self.session, row)
        if twin is None:
            return row
        await repo.update(
            self.session,
            row.id,
            status="completed",
            outcome="duplicate",
            duplicate_of=twin,
            completed_at=now,
        )
        await self._event(row.id, "request.linked", to=str(twin))
        return await self._get(row.id)

    # Officer actions

    async def approve(self, request_id: uuid.UUID, actor: str) -> RequestRow:
        row = await self._locked(request_id)
        self._allow("approve", row)
        if row.verified_at is None:
            raise WrongStatus("An unverified request cannot be approved.")
        await repo.update(self.session, request_id, status="in_progress")
        await self._event(request_id, "request.approved", by=actor)
        enqueued = await jobs.enqueue_for_request(
            self.session, request_id, jobs.ACTION_OF_TYPE[row.type]
        )
        if not enqueued:  # no connected system handles this: nothing to wait for
            await completion.settle(
                self.session, self.keyring, request_id, self.settings.public_url
            )
        return await self._get(request_id)

    async def lift_restriction(
        self, request_id: uuid.UUID, lift_at: datetime, actor: str, now: datetime
    ) -> RequestRow:
        """Art. 18(3): tell the requester first, then lift the restriction at every system at
        ``lift_at`` (the mail goes out before the jobs may run)."""
        row = await self._locked(request_id)
        if row.type != "restriction" or row.status != "completed" or row.outcome == "duplicate":
            raise WrongStatus("Only a completed restriction request can be lifted.")
        if lift_at < now - timedelta(minutes=1):
            raise InvalidInput(
                "lift_at may not be in the past.",
                errors=[{"field": "lift_at", "message": "now or later"}],
            )
        added = await jobs.enqueue_for_request(
            self.session, request_id, "lift_restriction", run_at=lift_at
        )
        if not added:
            raise WrongStatus("The restriction is already being lifted (or no system holds it).")
        await self._event(
            request_id, "request.restriction_lifting", lift_at=lift_at.isoformat(), by=actor
        )
        await notices.tell(
            self.session, self.keyring, row, "restriction_lifting", {"lift_at": lift_at}
        )
        return await self._get(request_id)

    async def pause(
        self, request_id: uuid.UUID, reason: str, question: str, actor: str, now: datetime
    ) -> RequestRow:
        row = await self._locked(request_id)
        if row.status != "received":
            raise WrongStatus(
                "Only a verified request not yet executed can wait for the requester."
            )
        dek = await self._dek(row)
        await repo.update(
            self.session,
            request_id,
            status="awaiting_requester",
            paused_at=now,
            pause_reason=reason,
            question_ct=seal_value(dek, request_id, "question", question.encode()),
        )
        await self._event(request_id, "request.paused", reason=reason, by=actor)
        answer_url = self.settings.answer_url.format(request=request_id)
        await notices.tell(
            self.session,
            self.keyring,
            row,
            "awaiting_requester",
            {"question": question, "answer_url": answer_url},
        )
        return await self._get(request_id)

    async def answer(
        self, request_id: uuid.UUID, answer: str, actor: str, now: datetime
    ) -> RequestRow:
        row = await self._locked(request_id)
        self._allow("answer", row)
        await self._add_note(row, "requester", answer)
        await repo.update(
            self.session,
            request_id,
            status="received",
            pause_reason=None,
            question_ct=None,
            **_resume(row, now),
        )
        await self._event(request_id, "request.resumed", by=actor)
        return await self._get(request_id)

    async def extend(
        self, request_id: uuid.UUID, months: int, reason: str, actor: str, now: datetime
    ) -> RequestRow:
        row = await self._locked(request_id)
        self._allow("extend", row)
        if row.extended_months is not None:
            raise AlreadyExtended("A request may be extended once (Art. 12(3)).")
        if now > deadlines.first_month_ends(row.received_at) + _paused_so_far(row, now):
            raise WrongStatus(
                "An extension must be decided and told within the first month (Art. 12(3))."
            )
        dek = await self._dek(row)
        due = deadlines.due_at(
            row.received_at, extended_months=months, paused=timedelta(seconds=row.paused_seconds)
        )
        await repo.update(
            self.session,
            request_id,
            extended_months=months,
            extension_reason_ct=seal_value(dek, request_id, "extension_reason", reason.encode()),
            due_at=due,
        )
        await self._event(request_id, "request.extended", months=months, by=actor)
        await notices.tell(
            self.session, self.keyring, row, "request_extended", {"reason": reason, "due_at": due}
        )
        return await self._get(request_id)

    async def reject(
        self, request_id: uuid.UUID, reason: str, actor: str, now: datetime
    ) -> RequestRow:
        row = await self._locked(request_id)
        self._allow("reject", row)
        dek = await self._dek(row)
        await repo.update(
            self.session,
            request_id,
            reject_reason_ct=seal_value(dek, request_id, "reject_reason", reason.encode()),
        )
        await self._close(row, now, "rejected", "rejected")
        await self._event(request_id, "request.rejected", by=actor)
        await notices.tell(self.session, self.keyring, row, "request_rejected", {"reason": reason})
        return await self._get(request_id)

    async def withdraw(self, request_id: uuid.UUID, actor: str, now: datetime) -> RequestRow:
        row = await self._locked(request_id)
        self._allow("withdraw", row)
        await self._close(row, now, "withdrawn", "withdrawn")
        await self._event(request_id, "request.withdrawn", by=actor)
        return await self._get(request_id)

    async def assign(self, request_id: uuid.UUID, assignee: str | None, actor: str) -> RequestRow:
        row = await self._locked(request_id)
        self._allow("assign", row)
        await repo.update(self.session, request_id, assignee=assignee)
        await self._event(request_id, "request.assigned", assignee=assignee, by=actor)
        return await self._get(request_id)

    async def note(self, request_id: uuid.UUID, text: str, actor: str) -> uuid.UUID:
        row = await self._locked(request_id)
        return await self._add_note(row, actor, text)

    async def _add_note(self, row: RequestRow, author: str, body: str) -> uuid.UUID:
        dek = await self._dek(row)
        note_id = uuid.uuid4()
        sealed = seal_value(dek, row.id, f"note:{note_id}", body.encode())
        await repo.add_note(self.session, note_id, row.id, author, sealed)
        await self._event(row.id, "request.note_added", note=str(note_id), by=author)
        return note_id

    # Reading

    async def get(self, request_id: uuid.UUID) -> RequestRow:
        return await self._get(request_id)

    async def details(self, row: RequestRow) -> dict[str, Any]:
        """What an officer sees beside the row: the address, the changes asked for, the
        question, the reasons and notes, decrypted; nothing once the key is shredded."""
        if row.wrapped_key is None:
            return {"notes": []}
        dek = await self._dek(row)

        def opened(field: str, sealed: bytes | None) -> str | None:
            return None if sealed is None else open_value(dek, row.id, field, sealed).decode()

        changes = opened("changes", row.changes_ct)
        notes = await repo.notes(self.session, row.id)
        return {
            "email": opened("email", row.email_ct),
            "changes": None if changes is None else json.loads(changes),
            "question": opened("question", row.question_ct),
            "extension_reason": opened("extension_reason", row.extension_reason_ct),
            "reject_reason": opened("reject_reason", row.reject_reason_ct),
            "notes": [
                {
                    "id": str(n.id),
                    "author": n.author,
                    "text": open_value(dek, row.id, f"note:{n.id}", n.body_ct).decode(),
                    "created_at": n.created_at,
                }
                for n in notes
            ],
        }

    def email_of(self, row: RequestRow, dek: bytes) -> str | None:
        return (
            None
            if row.email_ct is None
            else open_value(dek, row.id, "email", row.email_ct).decode()
        )

    # Helpers

    async def _dek(self, row: RequestRow) -> bytes:
        if row.kek_id is None or row.wrapped_key is None:
            raise Conflict("This request's personal data has been shredded.")
        return self.keys.open_key(row.id, row.kek_id, row.wrapped_key)

    async def _locked(self, request_id: uuid.UUID) -> RequestRow:
        row = await repo.get(self.session, request_id, lock=True)
        if row is None:
            raise NotFound("No such request.")
        return row

    async def _get(self, request_id: uuid.UUID) -> RequestRow:
        row = await repo.get(self.session, request_id)
        if row is None:
            raise NotFound("No such request.")
        return row

    def _allow(self, action: str, row: RequestRow) -> None:
        if not workflow.may(action, row.status):
            raise WrongStatus(workflow.WHY_NOT[action], current_status=row.status)

    async def _close(self, row: RequestRow, now: datetime, status: str, outcome: str) -> None:
        changes: dict[str, Any] = {"status": status, "outcome": outcome, "completed_at": now}
        if row.paused_at is not None:
            changes.update(_resume(row, now))
        await repo.update(self.session, row.id, **changes)

    async def _event(self, request_id: uuid.UUID, type_: str, **data: Any) -> None:
        await record_event(self.session, _audit(request_id, type_, **data))


def _audit(request_id: uuid.UUID, type_: str, **data: Any) -> AuditEvent:
    """An event of the request: its id is the event's subject (pseudonymous)."""
    return AuditEvent(
        service=SERVICE,
        type=type_,
        subject=str(request_id),
        data={"request": str(request_id), **data},
    )


def _origin(intake: Intake, principal: Principal | None) -> tuple[str, str | None, str | None]:
    """(origin, subject, verified_by) of a new request, by who sends it."""
    if principal is None:
        if intake.email is None:
            raise InvalidInput(
                "Without a token, name the email address the code should go to.",
                errors=[{"field": "email", "message": "required without a token"}],
            )
        if intake.subject is not None:
            raise InvalidInput(
                "Without a token a request cannot name a customer id; give the email address.",
                errors=[{"field": "subject", "message": "not allowed without a token"}],
            )
        return "public", None, None
    if principal.role == "portal":
        refuse_unbound_portal(principal)  # the intake is public, so no guard has refused it
        if intake.subject not in (None, principal.subject):
            raise Forbidden("This portal token is limited to another subject.")
        return "portal", principal.subject, "portal_token"
    if principal.role in ("officer", "admin"):
        if intake.subject is None:
            raise InvalidInput(
                "Name the customer id of the person (subject).",
                errors=[{"field": "subject", "message": "required for an officer's request"}],
            )
        return "officer", intake.subject, "officer"
    raise Forbidden(f"The role '{principal.role}' may not file data requests.")


def _paused_so_far(row: RequestRow, now: datetime) -> timedelta:
    running = (now - row.paused_at) if row.paused_at is not None else timedelta(0)
    return timedelta(seconds=row.paused_seconds) + running


def _resume(row: RequestRow, now: datetime) -> dict[str, Any]:
    """The columns that restart a stopped clock: the pause is added to the deadline."""
    paused = _paused_so_far(row, now)
    return {
        "paused_at": None,
        "paused_seconds": int(paused.total_seconds()),
        "due_at": deadlines.due_at(
            row.received_at, extended_months=row.extended_months or 0, paused=paused
        ),
    }
