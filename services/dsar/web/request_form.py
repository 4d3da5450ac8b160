"""The public request form: anyone files a data-subject request with their email address,
then confirms it with the mailed code — the same intake, rate limits and verification as
``POST /v1/requests`` without a token and ``POST /v1/requests/{id}/verify``."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.dsar.api.deps import dsar_settings
from services.dsar.domain.workflow import REQUEST_TYPES
from services.dsar.service.requests import CodeRejected, Intake, RequestService, TooManyAttempts
from services.dsar.web.pages import form_token, form_token_valid, render
from shared.app_base import KEYRING_KEY, SESSION_FACTORY_KEY
from shared.errors import LupaError, RateLimited
from shared.keys import Keyring
from shared.public_limits import requester_address
from shared.rate_limits import Limit, hit_all
from shared.web.i18n import language_of

HOUR = 3600
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9 ()-]{3,32}$")
CODE = re.compile(r"^[0-9]{4,12}$")
Form = dict[str, str]


def _retry_later(page: Template, exc: RateLimited) -> Template:
    """The page a person reads, with the ``Retry-After`` a program would."""
    page.headers["Retry-After"] = str(exc.extensions["retry_after"])
    return page


async def _form(request: Request[Any, Any, Any]) -> Form:
    form = await request.form()
    return {key: str(value).strip() for key, value in form.items() if isinstance(value, str)}


def _changes(form: Form) -> tuple[dict[str, str | None], str | None]:
    """A rectification's new values (only those filled in) and the error key, if any."""
    changes: dict[str, str | None] = {}
    for field in ("email", "phone", "name"):
        value = form.get(f"new_{field}", "")
        if value:
            changes[field] = value
    if not changes:
        return changes, "err_changes"
    if "email" in changes and not EMAIL.match(changes["email"] or ""):
        return changes, "err_new_email"
    if "phone" in changes and not PHONE.match(changes["phone"] or ""):
        return changes, "err_new_phone"
    if len(changes.get("name") or "") > 320:
        return changes, "err_new_name"
    return changes, None


class RequestFormController(Controller):
    path = "/request"
    include_in_schema = False

    def _form_page(
        self, request: Request[Any, Any, Any], form: Form, error: str | None, status: int
    ) -> Template:
        keyring: Keyring = request.app.state[KEYRING_KEY]
        return render(
            request,
            "request_form.html",
            {
                "types": REQUEST_TYPES,
                "form": form,
                "error": error,
                "form_token": form_token(keyring, "request"),
            },
            status=status,
        )

    @get("", opt={"public": True})
    async def form_page(self, request: Request[Any, Any, Any]) -> Template:
        wanted = request.query_params.get("type")
        return self._form_page(
            request, {"type": wanted if wanted in REQUEST_TYPES else ""}, None, 200
        )

    @post("", opt={"public": True})
    async def file(
        self, tx: NamedDependency[AsyncSession], request: Request[Any, Any, Any]
    ) -> Template:
        form = await _form(request)
        keyring: Keyring = request.app.state[KEYRING_KEY]
        if not form_token_valid(keyring, "request", form.get("form_token")):
            return self._form_page(request, form, "err_form_expired", 422)
        kind, email = form.get("type", ""), form.get("email", "")
        if kind not in REQUEST_TYPES:
            return self._form_page(request, form, "err_type", 422)
        if not EMAIL.match(email) or len(email) > 320:
            return self._form_page(request, form, "err_email", 422)
        changes = None
        if kind == "rectification":
            changes, error = _changes(form)
            if error:
                return self._form_page(request, form, error, 422)
        factory: async_sessionmaker[AsyncSession] = request.app.state[SESSION_FACTORY_KEY]
        limits = dsar_settings(request).limits
        try:
            per_ip = Limit("dsar-intake-ip", limits.intake_per_ip, HOUR)
            per_address = Limit("dsar-intake-address", limits.intake_per_address, HOUR)
            await hit_all(
                factory,
                keyring.evidence_key,
                [(per_ip, requester_address(request)), (per_address, email.lower())],
            )
        except RateLimited as exc:
            return _retry_later(self._form_page(request, form, "err_rate", 429), exc)
        intake = Intake(
            type=kind, subject=None, email=email, locale=language_of(request), changes=changes
        )
        created = await RequestService(tx, keyring, dsar_settings(request)).create(
            intake, None, datetime.now(UTC)
        )
        return self._code_page(request, created.request.id, None, 201)

    def _code_page(
        self,
        request: Request[Any, Any, Any],
        request_id: uuid.UUID,
        error: str | None,
        status: int,
        left: int | None = None,
    ) -> Template:
        keyring: Keyring = request.app.state[KEYRING_KEY]
        return render(
            request,
            "request_code.html",
            {
                "request_id": request_id,
                "error": error,
                "attempts_left": left,
                "form_token": form_token(keyring, f"verify:{request_id}"),
            },
            status=status,
        )

    @post("/{request_id:uuid}/verify", opt={"public": True})
    async def verify(
        self, request: Request[Any, Any, Any], request_id: FromPath[uuid.UUID]
    ) -> Template:
        form = await _form(request)
        keyring: Keyring = request.app.state[KEYRING_KEY]
        if not form_token_valid(keyring, f"verify:{request_id}", form.get("form_token")):
            return self._code_page(request, request_id, "err_form_expired", 422)
        code = form.get("code", "").replace(" ", "")
        if not CODE.match(code):
            return self._code_page(request, request_id, "err_code_format", 422)
        factory: async_sessionmaker[AsyncSession] = request.app.state[SESSION_FACTORY_KEY]
        per_ip = Limit("dsar-verify-ip", dsar_settings(request).limits.verify_per_ip, HOUR)
        try:
            await hit_all(factory, keyring.evidence_key, [(per_ip, requester_address(request))])
        except RateLimited as exc:
            return _retry_later(self._code_page(request, request_id, "err_rate", 429), exc)
        # Its own transaction, committed even when the code is wrong: the attempt must count.
        failure: LupaError | None = None
        async with factory() as session, session.begin():
            try:
                await RequestService(session, keyring, dsar_settings(request)).verify(
                    request_id, code, datetime.now(UTC)
                )
            except LupaError as exc:
                failure = exc
        if isinstance(failure, CodeRejected):
            left = failure.extensions.get("attempts_left")
            return self._code_page(request, request_id, "err_code_wrong", 422, left)
        if isinstance(failure, TooManyAttempts):
            return render(request, "request_outcome.html", {"outcome": "closed"}, status=409)
        if failure is not None:
            return render(
                request, "request_outcome.html", {"outcome": "not_pending"}, status=failure.status
            )
        return render(request, "request_outcome.html", {"outcome": "verified"})
