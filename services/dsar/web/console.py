"""The privacy officer's console: sign-in with an officer's token, the inbox, one request's
page and every workflow action, each through the same service code as the API.

Pages answer a session cookie or the role's bearer token; forms need a session (its CSRF
token). An action runs in a transaction of its own: when the service refuses it, nothing it
began is kept and the page is shown again with the reason.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.dsar.api.deps import dsar_settings
from services.dsar.api.packages import package_response
from services.dsar.api.requests import RequestView, request_summary, request_view
from services.dsar.db import requests as repo
from services.dsar.db.requests import InboxFilter, RequestRow
from services.dsar.domain import workflow
from services.dsar.service import jobs as job_service
from services.dsar.service.downloads import Format, download_package
from services.dsar.service.requests import RequestService
from services.dsar.web.pages import form_token, form_token_valid, render
from shared.app_base import KEYRING_KEY, SESSION_FACTORY_KEY
from shared.audit.outbox import AuditEvent, record_event
from shared.auth.guards import VERIFIER_STATE_KEY
from shared.auth.tokens import AccessTokenVerifier, InvalidToken, Principal
from shared.errors import Forbidden, InvalidInput, LupaError
from shared.keys import Keyring
from shared.public_limits import limited
from shared.web.pages import PAGE_HEADERS
from shared.web.sessions import (
    DEFAULT_TTL,
    SignInRequired,
    WebSession,
    check_csrf,
    cleared_cookie,
    close_session,
    cookie_name,
    open_session,
    page_session,
    redirect,
    requires_page,
    session_cookie,
    to_sign_in,
)

SERVICE = "dsar"
ROLES = ("officer", "admin")
BASE = "/console"
SIGN_IN = f"{BASE}/sign-in"
STATUSES = (
    "identity_pending",
    "received",
    "awaiting_requester",
    "in_progress",
    "completed",
    "rejected",
    "withdrawn",
)
ACTOR = re.compile(r"^[\x21-\x7e]{1,128}$")
CONNECTOR = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
OPEN_JOB = frozenset({"queued", "running", "waiting", "failed"})
Form = dict[str, str]


def _now() -> datetime:
    return datetime.now(UTC)


def _service(session: AsyncSession, request: Request[Any, Any, Any]) -> RequestService:
    keyring: Keyring = request.app.state[KEYRING_KEY]
    return RequestService(session, keyring, dsar_settings(request))


def _principal(request: Request[Any, Any, Any]) -> Principal:
    return request.scope["state"]["principal"]  # type: ignore[no-any-return]


def _secure(request: Request[Any, Any, Any]) -> bool:
    return str(dsar_settings(request).public_url).startswith("https://")


async def _form(request: Request[Any, Any, Any]) -> Form:
    form = await request.form()
    return {key: str(value).strip() for key, value in form.items() if isinstance(value, str)}


def _reason(form: Form, field: str = "reason") -> str:
    value = form.get(field, "")
    if not 3 <= len(value) <= 2000:
        raise InvalidInput("reason", field=field)
    return value


def _text(form: Form, field: str) -> str:
    value = form.get(field, "")
    if not 1 <= len(value) <= 4000:
        raise InvalidInput("text", field=field)
    return value


# Each workflow button: what it calls, given the request's own transaction and the form.
Action = Callable[[RequestService, uuid.UUID, Form, str, Request[Any, Any, Any]], Awaitable[Any]]


async def _verify(s: RequestService, rid: uuid.UUID, f: Form, actor: str, r: Any) -> Any:
    return await s.verify_by_officer(rid, actor, _now())


async def _approve(s: RequestService, rid: uuid.UUID, f: Form, actor: str, r: Any) -> Any:
    return await s.approve(rid, actor)


async def _pause(s: RequestService, rid: uuid.UUID, f: Form, actor: str, r: Any) -> Any:
    why = f.get("pause_reason", "clarification")
    if why not in ("identity", "clarification", "scope"):
        raise InvalidInput("pause_reason", field="pause_reason")
    return await s.pause(rid, why, _text(f, "question"), actor, _now())


async def _answer(s: RequestService, rid: uuid.UUID, f: Form, actor: str, r: Any) -> Any:
    return await s.answer(rid, _text(f, "answer"), actor, _now())


async def _extend(s: RequestService, rid: uuid.UUID, f: Form, actor: str, r: Any) -> Any:
    if f.get("months") not in ("1", "2"):
        raise InvalidInput("months", field="months")
    return await s.extend(rid, int(f["months"]), _reason(f), actor, _now())


async def _reject(s: RequestService, rid: uuid.UUID, f: Form, actor: str, r: Any) -> Any:
    return await s.reject(rid, _reason(f), actor, _now())


async def _withdraw(s: RequestService, rid: uuid.UUID, f: Form, actor: str, r: Any) -> Any:
    return await s.withdraw(rid, actor, _now())


async def _assign(s: RequestService, rid: uuid.UUID, f: Form, actor: str, r: Any) -> Any:
    assignee = f.get("assignee") or None
    if assignee is not None and not ACTOR.match(assignee):
        raise InvalidInput("assignee", field="assignee")
    return await s.assign(rid, assignee, actor)


async def _note(s: RequestService, rid: uuid.UUID, f: Form, actor: str, r: Any) -> Any:
    return await s.note(rid, _text(f, "text"), actor)


async def _lift(s: RequestService, rid: uuid.UUID, f: Form, actor: str, r: Any) -> Any:
    # As the API without lift_at: the requester gets the configured notice period first.
    now = _now()
    lift_at = now + timedelta(hours=dsar_settings(r).lift_notice_hours)
    return await s.lift_restriction(rid, lift_at, actor, now)


ACTIONS: dict[str, Action] = {
    "verify": _verify,
    "approve": _approve,
    "pause": _pause,
    "answer": _answer,
    "extend": _extend,
    "reject": _reject,
    "withdraw": _withdraw,
    "assign": _assign,
    "note": _note,
    "lift": _lift,
}


def buttons(row: RequestRow) -> set[str]:
    """The workflow buttons valid in the request's current status (the service decides again)."""
    shown = {a for a in ("reject", "withdraw", "assign", "answer") if workflow.may(a, row.status)}
    shown.add("note")
    if row.status == "identity_pending":
        shown.add("verify")
    if row.status == "received":
        shown.add("pause")
        if row.verified_at is not None:
            shown.add("approve")
    if workflow.may("extend", row.status) and row.extended_months is None:
        shown.add("extend")
    done = row.status == "completed" and row.outcome != "duplicate"
    if done and row.type == "restriction":
        shown.add("lift")
    if done and row.type in ("access", "portability"):
        shown.add("package")
    if row.erasure_receipt is not None:
        shown.add("receipt")
    return shown


class ConsoleController(Controller):
    path = BASE
    include_in_schema = False
    exception_handlers = {SignInRequired: to_sign_in(SIGN_IN)}

    @get("/sign-in", opt={"public": True})
    async def sign_in_page(self, request: Request[Any, Any, Any]) -> Template:
        return self._sign_in(request, None, 200)

    def _sign_in(self, request: Request[Any, Any, Any], error: str | None, status: int) -> Template:
        keyring: Keyring = request.app.state[KEYRING_KEY]
        return render(
            request,
            "console_sign_in.html",
            {"error": error, "form_token": form_token(keyring, "sign-in")},
            status=status,
        )

    @post("/sign-in", guards=[limited("sign-in")], opt={"public": True}, status_code=303)
    async def sign_in(
        self, tx: NamedDependency[AsyncSession], request: Request[Any, Any, Any]
    ) -> Response[Any]:
        form = await _form(request)
        keyring: Keyring = request.app.state[KEYRING_KEY]
        if not form_token_valid(keyring, "sign-in", form.get("form_token")):
            return self._sign_in(request, "err_form_expired", 422)
        verifier: AccessTokenVerifier = request.app.state[VERIFIER_STATE_KEY]
        try:
            principal = verifier.verify(form.get("token", ""))
        except InvalidToken:
            return self._sign_in(request, "err_token_invalid", 401)
        if principal.role not in ROLES:
            return self._sign_in(request, "err_token_role", 403)
        token, web = await open_session(tx, SERVICE, principal.role, None)
        await record_event(tx, _session_event("session.opened", web, principal.actor))
        cookie = session_cookie(
            SERVICE,
            token,
            secure=_secure(request),
            path=BASE,
            max_age=int(DEFAULT_TTL.total_seconds()),
        )
        return redirect(BASE, [cookie])

    @post("/sign-out", guards=[requires_page(*ROLES)], status_code=303)
    async def sign_out(
        self, tx: NamedDependency[AsyncSession], request: Request[Any, Any, Any]
    ) -> Response[Any]:
        web = await page_session(request)
        if web is not None:  # reached with a bearer token: there is no session to close
            check_csrf(web, (await _form(request)).get("csrf"))
            await close_session(tx, request.cookies.get(cookie_name(SERVICE), ""))
            await record_event(tx, _session_event("session.closed", web, web.principal.actor))
        return redirect(SIGN_IN, [cleared_cookie(SERVICE, BASE, secure=_secure(request))])

    @get("", guards=[requires_page(*ROLES)])
    async def inbox(
        self, tx: NamedDependency[AsyncSession], request: Request[Any, Any, Any]
    ) -> Template:
        query = request.query_params
        status, kind = query.get("status") or None, query.get("type") or None
        assignee = query.get("assignee") or None
        overdue = query.get("overdue") == "true"
        error = None
        if (
            (status is not None and status not in STATUSES)
            or (kind is not None and kind not in workflow.REQUEST_TYPES)
            or (assignee is not None and not ACTOR.match(assignee))
        ):
            error, rows = "err_filter", []
        else:
            now = _now()
            wanted = InboxFilter(
                status=status,
                type=kind,
                assignee=assignee,
                overdue_at=now if overdue else None,
                limit=200,
            )
            rows = [request_summary(row, now) for row in await repo.inbox(tx, wanted)]
        return render(
            request,
            "console_inbox.html",
            {
                "rows": rows,
                "error": error,
                "statuses": STATUSES,
                "types": workflow.REQUEST_TYPES,
                "filters": {
                    "status": status,
                    "type": kind,
                    "assignee": assignee or "",
                    "overdue": overdue,
                },
                "web": await page_session(request),
            },
            status=422 if error else 200,
        )

    @get("/requests/{request_id:uuid}", guards=[requires_page(*ROLES)])
    async def request_page(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
        request_id: FromPath[uuid.UUID],
    ) -> Template:
        return await self._request_page(tx, request, request_id, None, 200)

    async def _request_page(
        self,
        tx: AsyncSession,
        request: Request[Any, Any, Any],
        request_id: uuid.UUID,
        problem: LupaError | None,
        status: int,
        form: Form | None = None,
    ) -> Template:
        service = _service(tx, request)
        try:
            row = await service.get(request_id)
        except LupaError:
            return render(request, "console_missing.html", {}, status=404)
        view: RequestView = await request_view(service, row, _principal(request), _now())
        error_key = None
        error_detail = None
        if isinstance(problem, InvalidInput) and problem.detail in (
            "reason",
            "text",
            "months",
            "pause_reason",
            "assignee",
            "csrf",
        ):
            error_key = f"err_{problem.detail}"
        elif problem is not None:
            error_detail = problem.detail
        done = request.query_params.get("done")
        return render(
            request,
            "console_request.html",
            {
                "r": view,
                "buttons": buttons(row),
                "open_job": OPEN_JOB,
                "done": done if done in ACTIONS or done in ("retry", "skip") else None,
                "error_key": error_key,
                "error_detail": error_detail,
                "form": form or {},
                "web": await page_session(request),
            },
            status=status,
        )

    @post(
        "/requests/{request_id:uuid}/actions/{action:str}",
        guards=[requires_page(*ROLES)],
        status_code=303,
    )
    async def act(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
        request_id: FromPath[uuid.UUID],
        action: FromPath[str],
    ) -> Response[Any]:
        run = ACTIONS.get(action)
        if run is None:
            return await self._request_page(
                tx, request, request_id, InvalidInput("unknown action"), 404
            )
        actor = _principal(request).actor

        async def call(session: AsyncSession, form: Form) -> None:
            await run(_service(session, request), request_id, form, actor, request)

        return await self._perform(tx, request, request_id, action, call)

    @post(
        "/requests/{request_id:uuid}/connectors/{name:str}/{move:str}",
        guards=[requires_page(*ROLES)],
        status_code=303,
    )
    async def connector_job(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
        request_id: FromPath[uuid.UUID],
        name: FromPath[str],
        move: FromPath[str],
    ) -> Response[Any]:
        if move not in ("retry", "skip") or not CONNECTOR.match(name):
            return await self._request_page(
                tx, request, request_id, InvalidInput("unknown action"), 404
            )
        keyring: Keyring = request.app.state[KEYRING_KEY]
        public_url = dsar_settings(request).public_url

        async def call(session: AsyncSession, form: Form) -> None:
            if move == "retry":
                await job_service.retry_job(session, request_id, name)
            else:
                reason = _reason(form)
                await job_service.skip_job(session, keyring, request_id, name, reason, public_url)

        return await self._perform(tx, request, request_id, move, call)

    async def _perform(
        self,
        tx: AsyncSession,
        request: Request[Any, Any, Any],
        request_id: uuid.UUID,
        done: str,
        call: Callable[[AsyncSession, Form], Awaitable[None]],
    ) -> Response[Any]:
        form = await _form(request)
        # CSRF guards the ambient cookie; another site cannot send the bearer header.
        if not _by_bearer(request):
            web = await page_session(request)
            try:
                if web is None:
                    raise Forbidden("The console's forms need a signed-in session.")
                check_csrf(web, form.get("csrf"))
            except Forbidden:
                problem = InvalidInput("csrf")
                return await self._request_page(tx, request, request_id, problem, 403)
        factory: async_sessionmaker[AsyncSession] = request.app.state[SESSION_FACTORY_KEY]
        try:
            async with factory() as session, session.begin():
                await call(session, form)
        except LupaError as problem:  # rolled back: the page again, with the reason
            return await self._request_page(tx, request, request_id, problem, problem.status, form)
        return redirect(f"{BASE}/requests/{request_id}?done={done}")

    @get("/requests/{request_id:uuid}/package", guards=[requires_page(*ROLES)])
    async def package(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
        request_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        fmt: Format = "html" if request.query_params.get("format") == "html" else "json"
        principal = _principal(request)
        by = {"by": "officer", "role": principal.role, "actor": principal.actor}
        try:
            stored = await download_package(tx, keyring, request_id, by, fmt)
        except LupaError as problem:
            return await self._request_page(tx, request, request_id, problem, problem.status)
        response = package_response(stored, fmt)
        if fmt == "json":
            response.headers["Content-Disposition"] = (
                f'attachment; filename="access-{request_id}.json"'
            )
        return response

    @get("/requests/{request_id:uuid}/erasure-receipt", guards=[requires_page(*ROLES)])
    async def erasure_receipt(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
        request_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        row = await repo.get(tx, request_id)
        if row is None or row.erasure_receipt is None:
            problem = InvalidInput("Only a completed erasure has a receipt.")
            return await self._request_page(tx, request, request_id, problem, 404)
        return Response(
            row.erasure_receipt,
            media_type="application/jwt",
            headers={
                **PAGE_HEADERS,
                "Content-Disposition": f'attachment; filename="erasure-receipt-{request_id}.jwt"',
            },
        )


def _by_bearer(request: Request[Any, Any, Any]) -> bool:
    """Whether the page was reached with a bearer token (the guard has verified it)."""
    return "authorization" in request.headers


def _session_event(type_: str, web: WebSession, actor: str) -> AuditEvent:
    return AuditEvent(
        service=SERVICE,
        type=type_,
        subject=f"session-{web.id}",
        data={"role": web.role, "actor": actor},
    )
