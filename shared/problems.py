"""RFC 9457 problem details: the one error shape every Lupa endpoint returns.

Code below the HTTP edge raises a ``shared.errors.LupaError`` subclass; ``exception_handlers``
turns it (and every framework error) into ``application/problem+json`` with a stable ``type``.
Nothing else produces error responses, and no handler ever echoes a stack trace or request data.
"""

from __future__ import annotations

import re
import traceback
from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi.spec import Parameter

from shared.errors import (
    Forbidden,
    InvalidInput,
    LupaError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)
from shared.http_methods import allow_header
from shared.keys import UnknownKey
from shared.logging import new_request_id

PROBLEM_BASE = "urn:lupa:problem:"
PROBLEM_MEDIA_TYPE = "application/problem+json"
log = structlog.get_logger("lupa.problems")


def problem_body(
    status: int, slug: str, title: str, detail: str | None, request_id: str, **extensions: Any
) -> dict[str, Any]:
    """An RFC 9457 problem (a JSON object with Lupa's members beside the RFC's)."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    # ``instance`` names this occurrence (RFC 9457 §3.1.5), not the route and not the path (a
    # path holds customer ids): the request id as a URN, the id of the access-log line.
    body["instance"] = f"urn:uuid:{request_id}"
    body["request_id"] = request_id
    body.update(extensions)
    return body


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str | None,
    request: Request[Any, Any, Any],
    extra_headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response[dict[str, Any]]:
    state = request.scope.setdefault("state", {})
    request_id = state["request_id"] = state.get("request_id") or new_request_id()
    body = problem_body(status, slug, title, detail, request_id, **extensions)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    headers.update(extra_headers or {})
    return Response(
        body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers or None
    )


def handle_lupa_error(request: Request[Any, Any, Any], exc: LupaError) -> Response[dict[str, Any]]:
    retry_after = exc.extensions.get("retry_after")
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if exc.closes_connection:
        headers["Connection"] = "close"
    return problem_response(
        exc.status, exc.slug, exc.title, exc.detail, request, headers, **exc.extensions
    )


# msgspec messages that quote the submitted value ("Invalid enum value 'emial'", "Invalid
# value 7"): the message keeps its words and loses the value.
_QUOTES_VALUE = re.compile(r"^(Invalid (?:enum )?value)\b.*", re.DOTALL)
# An unknown member's name is client input as well.
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `.*`", re.DOTALL)


def without_values(message: str) -> str:
    message = _UNKNOWN_FIELD.sub("Object contains an unknown field", message)
    return _QUOTES_VALUE.sub(r"\1", message)


# Litestar's words for a missing parameter; the name is the one the route declares, and the
# rest of the message (the request's path and query) is never passed on.
_MISSING_PARAMETER = re.compile(r"Missing required (\w+) parameter '([^']+)'")


def _validation_errors(
    request: Request[Any, Any, Any], exc: ValidationException
) -> list[dict[str, str]]:
    """Field names and messages only: never echo the submitted values back."""
    errors = []
    missing = _MISSING_PARAMETER.match(str(exc.detail))
    if missing:
        kind, first = missing.groups()
        names = _missing_parameters(request, kind)
        for name in names if first in names else [*names, first]:
            errors.append({"field": name, "message": f"required {kind} parameter is missing"})
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            message = without_values(str(item.get("message", "")))
            errors.append({"field": str(item.get("key", "")), "message": message})
    return errors


def _missing_parameters(request: Request[Any, Any, Any], kind: str) -> list[str]:
    """Every required ``kind`` parameter the request lacks, in the order the operation declares
    them (Litestar stops at the first one it misses)."""
    present = {"query": request.query_params, "header": request.headers, "cookie": request.cookies}
    template = request.scope.get("path_template")
    paths = request.app.openapi_schema.paths or {}
    operation = getattr(paths.get(template or ""), request.method.lower(), None)
    if kind not in present or operation is None:
        return []
    return [
        param.name
        for param in operation.parameters or ()
        if isinstance(param, Parameter)
        and param.param_in == kind
        and param.required
        and param.name not in present[kind]
    ]


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException):
        detail = "The request body or parameters do not match the schema."
        return problem_response(
            422,
            "invalid-input",
            InvalidInput.title,
            detail,
            request,
            errors=_validation_errors(request, exc),
        )
    if isinstance(exc, NotAuthorizedException):
        return problem_response(401, Unauthorized.slug, Unauthorized.title, exc.detail, request)
    if isinstance(exc, PermissionDeniedException):
        return problem_response(403, Forbidden.slug, Forbidden.title, exc.detail, request)
    if isinstance(exc, NotFoundException):
        return problem_response(404, NotFound.slug, NotFound.title, "No such resource.", request)
    if isinstance(exc, MethodNotAllowedException):
        # Litestar lists the methods of the path it matched; HEAD and OPTIONS are added the
        # way shared.http_methods serves them.
        allow = allow_header((exc.headers or {}).get("allow", "").split(","))
        return problem_response(
            405,
            "method-not-allowed",
            "Method not allowed",
            f"This path answers {allow}.",
            request,
            extra_headers={"Allow": allow},
        )
    if exc.status_code == 413:
        return problem_response(
            413,
            PayloadTooLarge.slug,
            PayloadTooLarge.title,
            "The request body exceeds the size limit.",
            request,
        )
    if exc.status_code >= 500:
        return handle_internal_error(request, exc)
    # Other client errors (malformed JSON, bad headers): a generic 400 without echoing input.
    return problem_response(
        exc.status_code, "bad-request", "Bad request", "The request could not be parsed.", request
    )


def _is_database_unavailable(exc: BaseException) -> bool:
    """Connection loss, pool exhaustion, statement timeouts: the store is sick, not the request."""
    import asyncio

    import asyncpg
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError):
        orig = getattr(exc.orig, "__cause__", None) or exc.orig
        if isinstance(orig, asyncpg.exceptions.QueryCanceledError):
            return True
        return (
            bool(exc.connection_invalidated)
            or isinstance(exc, sa_exc.OperationalError)
            or isinstance(
                orig,
                (
                    OSError,
                    asyncpg.exceptions.PostgresConnectionError,
                    asyncpg.exceptions.CannotConnectNowError,
                    # "too many clients", out of memory or disk: the server refuses for now
                    # (found by tests/fuzz on a busy shared server: it was a 500).
                    asyncpg.exceptions.InsufficientResourcesError,
                ),
            )
        )
    return isinstance(
        exc,
        (
            sa_exc.TimeoutError,
            asyncio.TimeoutError,
            ConnectionError,
            OSError,
            asyncpg.exceptions.PostgresConnectionError,
        ),
    )


def handle_internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, UnknownKey):
        # Data sealed under a key this process does not hold: a key rotation not yet rolled
        # out to it (a keyring from LUPA_KEYRING is read once). Another replica, or this one
        # after its restart, can answer; nothing was changed.
        log.warning("key_unavailable", exc_type=type(exc).__name__)
        return problem_response(
            503,
            Unavailable.slug,
            Unavailable.title,
            "This server does not hold the key the data is sealed with yet; nothing was "
            "changed. Retry later.",
            request,
        )
    if _is_database_unavailable(exc):
        log.warning("database_unavailable", exc_type=type(exc).__name__)
        return problem_response(
            503,
            Unavailable.slug,
            Unavailable.title,
            "The database is not reachable; nothing was changed. Retry later.",
            request,
        )
    # Exception messages can carry data (e.g. a unique-violation quotes the key), so log
    # only the exception class and where it happened.
    frames = [f"{f.filename}:{f.lineno}:{f.name}" for f in traceback.extract_tb(exc.__traceback__)]
    log.error("unhandled_exception", exc_type=type(exc).__name__, frames=frames[-8:])
    return problem_response(
        500,
        "internal",
        "Internal error",
        "Something went wrong on our side; the change was not applied.",
        request,
    )


exception_handlers: dict[type[Exception] | int, Any] = {
    LupaError: handle_lupa_error,
    HTTPException: handle_http_exception,
    Exception: handle_internal_error,
}
