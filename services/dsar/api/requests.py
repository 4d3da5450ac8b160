"""``/v1/requests``: data-subject requests — intake (portal, public form, officer), identity by
one-time code, the officer's inbox and every workflow action."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.dsar.api.deps import caller, dsar_settings
from services.dsar.db import requests as repo
from services.dsar.db.requests import InboxFilter, RequestRow
from services.dsar.domain import deadlines
from services.dsar.service.requests import Intake, RequestService
from shared.app_base import KEYRING_KEY, SESSION_FACTORY_KEY
from shared.auth.guards import requires
from shared.auth.tokens import Principal
from shared.errors import Forbidden, InvalidInput, LupaError, NotFound
from shared.keys import Keyring
from shared.public_limits import requester_address
from shared.rate_limits import Limit, hit_all

RequestType = Literal[
    "access", "portability", "rectification", "erasure", "restriction", "objection"
]
Locale = Literal["fi", "sv", "en"]
Phone = Annotated[str, msgspec.Meta(min_length=3, max_length=32, pattern=r"^\+?[0-9 ()-]+$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=320)]
Email = Annotated[
    str, msgspec.Meta(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
]
ExternalId = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
Reason = Annotated[str, msgspec.Meta(min_length=3, max_length=2000)]
Actor = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
Code = Annotated[str, msgspec.Meta(min_length=4, max_length=12, pattern=r"^[0-9]+$")]
PauseReason = Literal["identity", "clarification", "scope"]
RequestStatus = Literal[
    "identity_pending",
    "received",
    "in_progress",
    "awaiting_requester",
    "completed",
    "rejected",
    "withdrawn",
]

HOUR = 3600
REQUEST_ID = Parameter(description="The request's id (a UUID)")


class Changes(msgspec.Struct, forbid_unknown_fields=True):
    """New values for a rectification; ``null`` asks for the value to be removed."""

    email: Email | msgspec.UnsetType | None = msgspec.UNSET
    phone: Phone | msgspec.UnsetType | None = msgspec.UNSET
    name: Name | msgspec.UnsetType | None = msgspec.UNSET

    def given(self) -> dict[str, str | None]:
        return {
            k: v for k in ("email", "phone", "name") if (v := getattr(self, k)) is not msgspec.UNSET
        }


class NewRequest(msgspec.Struct, forbid_unknown_fields=True):
    type: RequestType
    subject: ExternalId | None = None
    email: Email | None = None
    locale: Locale = "en"
    changes: Changes | None = None


class RequestCreated(msgspec.Struct):
    id: uuid.UUID
    type: str
    status: str
    due_at: datetime
    identity: Literal["verified", "code_sent"]
    duplicate_of: uuid.UUID | None = None


class ConnectorProgress(msgspec.Struct):
    name: str
    action: str
    status: str
    attempts: int
    last_error: str | None
    reason: str | None
    updated_at: datetime


class TimelineItem(msgspec.Struct):
    time: datetime
    type: str
    data: dict[str, Any]  # the audit event's members, free-form by event type


class Note(msgspec.Struct):
    id: str
    author: str
    text: str
    created_at: datetime


class RequestView(msgspec.Struct):
    id: uuid.UUID
    type: str
    status: str
    origin: str
    subject: str | None
    locale: str
    verified_by: str | None
    received_at: datetime
    due_at: datetime
    overdue: bool
    due_soon: bool
    paused: bool
    pause_reason: str | None
    extended_months: int | None
    assignee: str | None
    duplicate_of: uuid.UUID | None
    outcome: str | None
    completed_at: datetime | None
    connectors: list[ConnectorProgress]
    email: str | None = None
    changes: dict[str, str | None] | None = None
    question: str | None = None
    extension_reason: str | None = None
    reject_reason: str | None = None
    notes: list[Note] = []
    timeline: list[TimelineItem] = []


class RequestSummary(msgspec.Struct):
    id: uuid.UUID
    type: str
    status: str
    subject: str | None
    due_at: datetime
    overdue: bool
    due_soon: bool
    assignee: str | None
    received_at: datetime


class CodeBody(msgspec.Struct, forbid_unknown_fields=True):
    code: Code


class ExtendBody(msgspec.Struct, forbid_unknown_fields=True):
    months: int
    reason: Reason


class ReasonBody(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class OptionalReasonBody(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason | None = None


class AssignBody(msgspec.Struct, forbid_unknown_fields=True):
    assignee: Actor | None


class NoteBody(msgspec.Struct, forbid_unknown_fields=True):
    text: Text


class PauseBody(msgspec.Struct, forbid_unknown_fields=True):
    question: Text
    reason: PauseReason = "clarification"


class LiftBody(msgspec.Struct, forbid_unknown_fields=True):
    """When to lift (default: ``LUPA_DSAR_LIFT_NOTICE_HOURS`` after now, 72)."""

    lift_at: datetime | None = None


class AnswerBody(msgspec.Struct, forbid_unknown_fields=True):
    answer: Text


class NoteAdded(msgspec.Struct):
    id: uuid.UUID


def _now() -> datetime:
    return datetime.now(UTC)


def _service(tx: AsyncSession, request: Request[Any, Any, Any]) -> RequestService:
    keyring: Keyring = request.app.state[KEYRING_KEY]
    return RequestService(tx, keyring, dsar_settings(request))


def request_summary(row: RequestRow, now: datetime) -> RequestSummary:
    return RequestSummary(
        id=row.id,
        type=row.type,
        status=row.status,
        subject=row.subject,
        due_at=row.due_at,
        overdue=_open_clock(row) and deadlines.is_overdue(row.due_at, now),
        due_soon=_open_clock(row) and deadlines.is_due_soon(row.due_at, now),
        assignee=row.assignee,
        received_at=row.received_at,
    )


def _open_clock(row: RequestRow) -> bool:
    return row.status in ("received", "in_progress")


async def request_view(
    service: RequestService, row: RequestRow, principal: Principal, now: datetime
) -> RequestView:
    progress = await repo.job_progress(service.session, row.id)
    view = RequestView(
        id=row.id,
        type=row.type,
        status=row.status,
        origin=row.origin,
        subject=row.subject,
        locale=row.locale,
        verified_by=row.verified_by,
        received_at=row.received_at,
        due_at=row.due_at,
        overdue=_open_clock(row) and deadlines.is_overdue(row.due_at, now),
        due_soon=_open_clock(row) and deadlines.is_due_soon(row.due_at, now),
        paused=row.paused_at is not None,
        pause_reason=row.pause_reason,
        extended_months=row.extended_months,
        assignee=row.assignee,
        duplicate_of=row.duplicate_of,
        outcome=row.outcome,
        completed_at=row.completed_at,
        connectors=[ConnectorProgress(**msgspec.structs.asdict(p)) for p in progress],
    )
    if principal.role not in ("officer", "admin"):
        return view  # the requester sees the status; the officer's working notes stay inside
    details = await service.details(row)
    timeline = await repo.timeline(service.session, row.id)
    return msgspec.structs.replace(
        view,
        email=details.get("email"),
        changes=details.get("changes"),
        question=details.get("question"),
        extension_reason=details.get("extension_reason"),
        reject_reason=details.get("reject_reason"),
        notes=[Note(**n) for n in details["notes"]],
        timeline=[TimelineItem(time=t.time, type=t.type, data=t.data) for t in timeline],
    )


def _mine(principal: Principal, row: RequestRow) -> None:
    """A portal token sees only its own subject's requests."""
    if principal.role == "portal" and (
        principal.subject is None or principal.subject != row.subject
    ):
        raise Forbidden("This portal token is limited to another subject.")


class RequestController(Controller):
    path = "/v1/requests"
    tags = ["requests"]

    @post(
        "",
        opt={"public": True, "problems": (401, 403, 429)},
        status_code=201,
        summary="File a data-subject request (a token verifies it; without one a code is mailed)",
    )
    async def create(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
        data: JSONBody[NewRequest],
    ) -> RequestCreated:
        principal = caller(request)
        if data.type == "rectification" and (data.changes is None or not data.changes.given()):
            raise InvalidInput(
                "A rectification names the values to correct.",
                errors=[{"field": "changes", "message": "give at least one of email, phone, name"}],
            )
        if data.type != "rectification" and data.changes is not None:
            raise InvalidInput(
                "Only a rectification carries changes.",
                errors=[{"field": "changes", "message": "only for type rectification"}],
            )
        if principal is None:
            factory: async_sessionmaker[AsyncSession] = request.app.state[SESSION_FACTORY_KEY]
            key = request.app.state[KEYRING_KEY].evidence_key
            limits = dsar_settings(request).limits
            hits = [
                (Limit("dsar-intake-ip", limits.intake_per_ip, HOUR), requester_address(request))
            ]
            if data.email is not None:
                per_address = Limit("dsar-intake-address", limits.intake_per_address, HOUR)
                hits.append((per_address, data.email.strip().lower()))
            await hit_all(factory, key, hits)
        intake = Intake(
            type=data.type,
            subject=data.subject,
            email=data.email,
            locale=data.locale,
            changes=data.changes.given() if data.changes is not None else None,
        )
        created = await _service(tx, request).create(intake, principal, _now())
        row = created.request
        return RequestCreated(
            id=row.id,
            type=row.type,
            status=row.status,
            due_at=row.due_at,
            identity="code_sent" if row.verified_at is None else "verified",
            duplicate_of=row.duplicate_of,
        )

    @post(
        "/{request_id:uuid}/verify",
        opt={"public": True, "problems": (404, 409, 429)},
        status_code=200,
        summary="Confirm the requester's identity with the one-time code from the mail",
    )
    async def verify(
        self,
        state: State,
        request: Request[Any, Any, Any],
        data: JSONBody[CodeBody],
        request_id: Annotated[uuid.UUID, REQUEST_ID],
    ) -> RequestCreated:
        factory: async_sessionmaker[AsyncSession] = state[SESSION_FACTORY_KEY]
        per_ip = Limit("dsar-verify-ip", dsar_settings(request).limits.verify_per_ip, HOUR)
        # per request, the code's own attempt limit (LUPA_DSAR_CODE_ATTEMPTS) closes it
        await hit_all(
            factory, state[KEYRING_KEY].evidence_key, [(per_ip, requester_address(request))]
        )
        # Its own transaction, committed even when the code is wrong: the attempt must count.
        failure: LupaError | None = None
        async with factory() as session, session.begin():
            try:
                row = await _service(session, request).verify(request_id, data.code, _now())
            except LupaError as exc:
                failure = exc  # leaving the block normally commits the counted attempt
        if failure is not None:
            raise failure
        return RequestCreated(
            id=row.id,
            type=row.type,
            status=row.status,
            due_at=row.due_at,
            identity="verified",
            duplicate_of=row.duplicate_of,
        )

    @post(
        "/{request_id:uuid}/resend-code",
        opt={"public": True, "problems": (404, 409, 429)},
        status_code=202,
        summary="Mail a new one-time code (the old one stops working)",
    )
    async def resend_code(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
        request_id: Annotated[uuid.UUID, REQUEST_ID],
    ) -> RequestCreated:
        factory: async_sessionmaker[AsyncSession] = request.app.state[SESSION_FACTORY_KEY]
        key = request.app.state[KEYRING_KEY].evidence_key
        limits = dsar_settings(request).limits
        # the same budget per request as per address at intake: a code costs one mail
        await hit_all(
            factory,
            key,
            [
                (Limit("dsar-intake-ip", limits.intake_per_ip, HOUR), requester_address(request)),
                (Limit("dsar-resend", limits.intake_per_address, HOUR), str(request_id)),
            ],
        )
        service = _service(tx, request)
        await service.resend_code(request_id, _now())
        row = await service.get(request_id)
        return RequestCreated(
            id=row.id, type=row.type, status=row.status, due_at=row.due_at, identity="code_sent"
        )

    @get(
        "",
        guards=[requires("officer", "admin", "portal")],
        summary="The officer's inbox by deadline, earliest first (a portal token: its subject's)",
    )
    async def inbox(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
        status: Annotated[RequestStatus | None, QueryParameter()] = None,
        kind: Annotated[RequestType | None, QueryParameter(name="type")] = None,
        assignee: Annotated[str | None, QueryParameter(max_length=128)] = None,
        subject: Annotated[str | None, QueryParameter(max_length=128)] = None,
        due_before: Annotated[datetime | None, QueryParameter()] = None,
        overdue: Annotated[bool, QueryParameter()] = False,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> list[RequestSummary]:
        now = _now()
        if due_before is not None and due_before.tzinfo is None:
            raise InvalidInput(
                "due_before needs a time zone (e.g. 2027-01-31T00:00:00Z).",
                errors=[{"field": "due_before", "message": "needs a UTC offset"}],
            )
        principal = _principal(request)
        if principal.role == "portal":
            if principal.subject is None or subject not in (None, principal.subject):
                raise Forbidden("This portal token is limited to another subject.")
            subject = principal.subject
        rows = await repo.inbox(
            tx,
            InboxFilter(
                status=status,
                type=kind,
                assignee=assignee,
                subject=subject,
                due_before=due_before,
                overdue_at=now if overdue else None,
                limit=limit,
            ),
        )
        return [request_summary(row, now) for row in rows]

    @get(
        "/{request_id:uuid}",
        guards=[requires("officer", "admin", "portal")],
        opt={"problems": (404,)},
        summary="One request: status, deadline, progress per system (officers: timeline, notes)",
    )
    async def get_request(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
        request_id: Annotated[uuid.UUID, REQUEST_ID],
    ) -> RequestView:
        principal = _principal(request)
        service = _service(tx, request)
        row = await service.get(request_id)
        _mine(principal, row)
        return await request_view(service, row, principal, _now())

    @post(
        "/{request_id:uuid}/approve",
        guards=[requires("officer", "admin")],
        status_code=200,
        opt={"problems": (404, 409)},
        summary="Execute a verified request across every connected system",
    )
    async def approve(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
        request_id: Annotated[uuid.UUID, REQUEST_ID],
    ) -> RequestView:
        principal = _principal(request)
        service = _service(tx, request)
        row = await service.approve(request_id, principal.actor)
        return await request_view(service, row, principal, _now())

    @post(
        "/{request_id:uuid}/extend",
        guards=[requires("officer", "admin")],
        status_code=200,
        opt={"problems": (404, 409)},
        summary="Extend the deadline once by one or two months, telling the requester why",
    )
    async def extend(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
        data: JSONBody[ExtendBody],
        request_id: Annotated[uuid.UUID, REQUEST_ID],
    ) -> RequestView:
        if data.months not in (1, 2):
            raise InvalidInput(
                "An extension is one or two further months (Art. 12(3)).",
                errors=[{"field": "months", "message": "1 or 2"}],
            )
        principal = _principal(request)
        service = _service(tx, request)
        row = await service.extend(request_id, data.months, data.reason, principal.actor, _now())
        return await request_view(service, row, principal, _now())

    @post(
        "/{request_id:uuid}/reject",
        guards=[requires("officer", "admin")],
        status_code=200,
        opt={"problems": (404, 409)},
        summary="Refuse with a reason; the requester is told, with the right to complain",
    )
    async def reject(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
        data: JSONBody[ReasonBody],
        request_id: Annotated[uuid.UUID, REQUEST_ID],
    ) -> RequestView:
        principal = _principal(request)
        service = _service(tx, request)
        row = await service.reject(request_id, data.reason, principal.actor, _now())
        return await request_view(service, row, principal, _now())

    @post(
        "/{request_id:uuid}/withdraw",
        guards=[requires("officer", "admin", "portal")],
        status_code=200,
        opt={"problems": (404, 409)},
        summary="Close the request on the requester's word (portal for its subject, or an officer)",
    )
    async def withdraw(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
        data: JSONBody[OptionalReasonBody],
        request_id: Annotated[uuid.UUID, REQUEST_ID],
    ) -> RequestView:
        principal = _principal(request)
        service = _service(tx, request)
        _mine(principal, await service.get(request_id))
        row = await service.withdraw(request_id, principal.actor, _now())
        return await request_view(service, row, principal, _now())

    @post(
        "/{request_id:uuid}/assign",
        guards=[requires("officer", "admin")],
        status_code=200,
        opt={"problems": (404, 409)},
        summary="Give the request to an officer (null: unassign)",
    )
    async def assign(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
        data: JSONBody[AssignBody],
        request_id: Annotated[uuid.UUID, REQUEST_ID],
    ) -> RequestView:
        principal = _principal(request)
        service = _service(tx, request)
        row = await service.assign(request_id, data.assignee, principal.actor)
        return await request_view(service, row, principal, _now())

    @post(
        "/{request_id:uuid}/notes",
        guards=[requires("officer", "admin")],
        status_code=201,
        opt={"problems": (404,)},
        summary="Add a working note (sealed with the request's key)",
    )
    async def add_note(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
        data: JSONBody[NoteBody],
        request_id: Annotated[uuid.UUID, REQUEST_ID],
    ) -> NoteAdded:
        principal = _principal(request)
        return NoteAdded(
            id=await _service(tx, request).note(request_id, data.text, principal.actor)
        )

    @post(
        "/{request_id:uuid}/pause",
        guards=[requires("officer", "admin")],
        status_code=200,
        opt={"problems": (404, 409)},
        summary="Ask the requester a question; the clock stops until they answer",
    )
    async def pause(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
        data: JSONBody[PauseBody],
        request_id: Annotated[uuid.UUID, REQUEST_ID],
    ) -> RequestView:
        principal = _principal(request)
        service = _service(tx, request)
        row = await service.pause(request_id, data.reason, data.question, principal.actor, _now())
        return await request_view(service, row, principal, _now())

    @post(
        "/{request_id:uuid}/answer",
        guards=[requires("officer", "admin", "portal")],
        status_code=200,
        opt={"problems": (404, 409)},
        summary="The requester's answer (portal, or an officer recording it); the clock runs again",
    )
    async def answer(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
        data: JSONBody[AnswerBody],
        request_id: Annotated[uuid.UUID, REQUEST_ID],
    ) -> RequestView:
        principal = _principal(request)
        service = _service(tx, request)
        _mine(principal, await service.get(request_id))
        row = await service.answer(request_id, data.answer, principal.actor, _now())
        return await request_view(service, row, principal, _now())

    @post(
        "/{request_id:uuid}/lift-restriction",
        guards=[requires("officer", "admin")],
        status_code=200,
        opt={"problems": (404, 409)},
        summary="Lift a restriction at every system, telling the requester first (Art. 18(3))",
    )
    async def lift_restriction(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
        data: JSONBody[LiftBody],
        request_id: Annotated[uuid.UUID, REQUEST_ID],
    ) -> RequestView:
        principal = _principal(request)
        now = _now()
        if data.lift_at is not None and data.lift_at.tzinfo is None:
            raise InvalidInput(
                "lift_at needs a time zone.", errors=[{"field": "lift_at", "message": "offset"}]
            )
        notice = timedelta(hours=dsar_settings(request).lift_notice_hours)
        service = _service(tx, request)
        row = await service.lift_restriction(
            request_id, data.lift_at or now + notice, principal.actor, now
        )
        return await request_view(service, row, principal, now)

    @get(
        "/{request_id:uuid}/erasure-receipt",
        guards=[requires("officer", "admin", "portal")],
        opt={"problems": (404,)},
        summary="The signed receipt of a completed erasure: per system erased, not held or kept",
    )
    async def erasure_receipt(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
        request_id: Annotated[uuid.UUID, REQUEST_ID],
    ) -> ErasureReceipt:
        row = await _service(tx, request).get(request_id)
        _mine(_principal(request), row)
        if row.erasure_receipt is None:
            raise NotFound("Only a completed erasure has a receipt.")
        return ErasureReceipt(receipt=row.erasure_receipt)


class ErasureReceipt(msgspec.Struct):
    """A compact JWS (``typ`` erasure-receipt+jwt), verifiable with /.well-known/jwks.json."""

    receipt: str


def _principal(request: Request[Any, Any, Any]) -> Principal:
    principal = caller(request)
    if principal is None:  # guarded routes only
        raise Forbidden("This endpoint needs a bearer token.")
    return principal
