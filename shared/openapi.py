"""The OpenAPI document tells the truth about errors, created resources and non-JSON bodies.

Litestar documents every error as ``400 application/json {status_code, detail, extra}``, which
Lupa never sends. ``describe_responses`` rewrites each operation once, when the app is built:
Litestar's error entries go, and each operation lists the problem statuses it really returns,
all as ``application/problem+json`` with the ``Problem`` schema (``shared.problems``).

The statuses are derived from what the operation is, so they cannot drift from the code that
produces them:

- a role guard: 401 (no, bad or expired token) and 403 (role or subject not allowed);
- any parameter or body: 422 (does not match the schema);
- a request body: 400 (not parseable) and 413 (over the size limit); a JSON body also 415
  (sent under another media type);
- an ``If-Match`` header: 412 (stale ETag) and 428 (missing; the header is then required);
- ``opt={"idempotent": True}``: the ``Idempotency-Key`` header, 409 (same key still running)
  and 422 (key reused for another request);
- every operation that reads the database: 503 (``opt={"database": False}`` for those that
  do not).

What only the service knows (404 for an unknown subject, 410 for an expired link, ...) the
handler declares with ``opt={"problems": (404, ...)}``. Handlers may also declare
``opt={"media_types": (...)}`` for success bodies that are text rather than JSON (streams,
HTML, Server-Sent Events), ``opt={"request_body": RequestBody(...)}`` for a body the handler
reads itself (the one-click unsubscribe form), and ``opt={"request_media_types": (...)}`` for
other media types its JSON body is taken under, and ``opt={"etag": True}`` when its successes
carry an ``ETag``. Every response documents ``X-Request-ID``; every guarded operation requires
the ``bearer`` scheme, a public one (``opt={"public": True}``) nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    RequestBody,
    Schema,
)

from shared.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

IDEMPOTENCY_HEADER = "Idempotency-Key"  # shared.idempotency.HEADER (kept free of its imports)
_STRING = Schema(type=OpenAPIType.STRING)

PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    title="Problem",
    description=(
        "An RFC 9457 problem. `type` is a stable URN (`" + PROBLEM_BASE + "<slug>`); "
        "clients branch on it, not on `title` or `detail`. Members beyond the RFC's are "
        "Lupa's extensions; a problem never echoes submitted values."
    ),
    required=["type", "title", "status"],
    properties={
        "type": Schema(type=OpenAPIType.STRING, examples=[PROBLEM_BASE + "invalid-input"]),
        "title": _STRING,
        "status": Schema(type=OpenAPIType.INTEGER, minimum=400, maximum=599),
        "detail": _STRING,
        "instance": Schema(
            type=OpenAPIType.STRING,
            format=OpenAPIFormat.URI,
            description="This occurrence: `urn:uuid:` and the request id",
        ),
        "request_id": Schema(
            type=OpenAPIType.STRING,
            format=OpenAPIFormat.UUID,
            description="Also in the logs and the X-Request-ID header",
        ),
        "field": Schema(type=OpenAPIType.STRING, description="The offending field, if one"),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            description="Schema violations: which field and why (never its value)",
            items=Schema(
                type=OpenAPIType.OBJECT,
                required=["field", "message"],
                properties={"field": _STRING, "message": _STRING},
            ),
        ),
        "max_subjects": Schema(
            type=OpenAPIType.INTEGER, description="413 of a batch: the most subjects per call"
        ),
        "etag": Schema(type=OpenAPIType.STRING, description="412: the current ETag"),
        "channels": Schema(
            type=OpenAPIType.ARRAY,
            items=_STRING,
            description="channel-not-allowed: the channels the purpose uses",
        ),
        "allowed": Schema(
            type=OpenAPIType.BOOLEAN, description="503 of a check: always false (do not send)"
        ),
        "reasons": Schema(type=OpenAPIType.ARRAY, items=_STRING, description="503 of a check"),
    },
    additional_properties=True,
)
PROBLEM_REF = Reference(ref="#/components/schemas/Problem")

DESCRIPTIONS = {
    400: "The body or a signed link could not be read",
    401: "No bearer token, or one that is invalid or expired",
    403: "The token's role (or subject) may not use this operation",
    404: "No such resource",
    409: "Conflict (e.g. a request with the same Idempotency-Key is still running)",
    410: "The signed link has expired or no longer applies",
    412: "If-Match does not match the current ETag; read the resource again",
    413: "The body, or the batch in it, is over the limit",
    415: "The body is not sent as JSON (Content-Type application/json, UTF-8)",
    422: "The request does not match the schema or the rules; nothing was changed",
    428: "If-Match is required",
    429: "Too many requests; wait the seconds Retry-After gives",
    503: "The database is not reachable; nothing was changed, retry later",
}


def problem_response(status: int) -> OpenAPIResponse:
    headers: dict[str, OpenAPIHeader | Reference] | None = None
    if status == 401:
        headers = {"WWW-Authenticate": OpenAPIHeader(schema=_STRING, required=True)}
    if status == 429:
        headers = {"Retry-After": OpenAPIHeader(schema=_STRING, required=True)}
    return OpenAPIResponse(
        description=DESCRIPTIONS[status],
        headers=headers,
        content={PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=PROBLEM_REF)},
    )


def problem_statuses(handler: HTTPRouteHandler, operation: Operation) -> set[int]:
    """The problem statuses this operation can answer (see the module docstring)."""
    statuses = set(handler.opt.get("problems", ()))
    params = list(operation.parameters or ())
    has_body = operation.request_body is not None
    if handler.resolve_guards():
        statuses |= {401, 403}
    if params or has_body:
        statuses.add(422)
    if has_body:
        statuses |= {400, 413}
        if _takes_json(operation):
            statuses.add(415)  # any other Content-Type is refused (shared/strict_input.py)
    if any(_is_header(p, "If-Match") for p in params):
        statuses |= {412, 428}
    if handler.opt.get("idempotent", False):
        statuses |= {409, 422}
    if handler.opt.get("database", True):
        statuses.add(503)
    return statuses


def _takes_json(operation: Operation) -> bool:
    body = operation.request_body
    content = getattr(body, "content", None) or {}
    return any(media.endswith("json") for media in content)


def _is_header(param: Parameter | Reference, name: str) -> bool:
    return (
        isinstance(param, Parameter)
        and param.param_in == "header"
        and param.name.lower() == name.lower()
    )


def _require_if_match(operation: Operation) -> None:
    """Leaving If-Match out is refused with 428, so the document calls it required."""
    for param in operation.parameters or ():
        if isinstance(param, Parameter) and _is_header(param, "If-Match"):
            param.required = True
            param.description = "The ETag of the last read; `*` for any version"


def _add_idempotency_key(operation: Operation) -> None:
    operation.parameters = [
        *(operation.parameters or ()),
        Parameter(
            name=IDEMPOTENCY_HEADER,
            param_in="header",
            required=False,
            schema=Schema(type=OpenAPIType.STRING, min_length=1, max_length=255),
            description=(
                "Retrying with the same key returns the first response (with "
                "`Idempotent-Replayed: true`) and writes nothing again; the same key with "
                "another body is 422, while the first request still runs 409."
            ),
        ),
    ]


def _also_accept(operation: Operation, media_types: Iterable[str]) -> None:
    """The JSON body is also taken under these media types (e.g. merge-patch+json)."""
    body = operation.request_body
    if isinstance(body, RequestBody) and "application/json" in body.content:
        for media_type in media_types:
            body.content[media_type] = body.content["application/json"]


def _text_success(operation: Operation, media_types: Iterable[str], *, keep_json: bool) -> None:
    """The success responses carry text in these media types: instead of JSON (streams,
    exports), or beside it (``keep_json``: a page for browsers)."""
    text = {mt: OpenAPIMediaType(schema=_STRING) for mt in media_types}
    for status, response in (operation.responses or {}).items():
        if status.startswith("2") and isinstance(response, OpenAPIResponse) and text:
            response.content = {**(response.content or {}), **text} if keep_json else text


REQUEST_ID = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.UUID),
    required=True,
    description="This request's id: a problem's `instance` is `urn:uuid:` and this id",
)
ETAG = OpenAPIHeader(
    schema=_STRING, required=True, description="The version; send it back in `If-Match`"
)
REPLAYED = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.STRING, enum=["true"]),
    required=False,
    description="`true` when this is the stored answer to an earlier request with the same "
    "`Idempotency-Key` (nothing was written again)",
)


def _add_headers(responses: dict[str, Any], handler: HTTPRouteHandler) -> None:
    """Every response carries ``X-Request-ID``; successes also what the handler sends with
    them (``opt={"etag": True}``: ``ETag``; idempotent: ``Idempotent-Replayed`` on a replay)."""
    success: dict[str, OpenAPIHeader | Reference] = {}
    if handler.opt.get("etag", False):
        success["ETag"] = ETAG
    if handler.opt.get("idempotent", False):
        success["Idempotent-Replayed"] = REPLAYED
    for status, response in responses.items():
        if isinstance(response, OpenAPIResponse):
            extra = {"X-Request-ID": REQUEST_ID, **(success if status.startswith("2") else {})}
            response.headers = {**(response.headers or {}), **extra}


def describe_operation(handler: HTTPRouteHandler, operation: Operation) -> None:
    # The bearer requirement per guarded operation: a document-wide one would also cover the
    # public operations, and a generated client would refuse to call them without a token.
    operation.security = None if handler.opt.get("public", False) else [{"bearer": []}]
    if "request_body" in handler.opt:
        operation.request_body = handler.opt["request_body"]
    _also_accept(operation, handler.opt.get("request_media_types", ()))
    if handler.opt.get("idempotent", False):
        _add_idempotency_key(operation)
    _require_if_match(operation)
    _text_success(operation, handler.opt.get("media_types", ()), keep_json=False)
    _text_success(operation, handler.opt.get("also_media_types", ()), keep_json=True)
    declared = {str(status) for status in handler.responses or {}}
    responses = {
        status: response
        for status, response in (operation.responses or {}).items()
        # Litestar's own error entries describe bodies Lupa never sends
        if int(status) < 400 or status in declared
    }
    for status in sorted(problem_statuses(handler, operation)):
        responses.setdefault(str(status), problem_response(status))
    _add_headers(responses, handler)
    operation.responses = responses


def describe_responses(app: Litestar) -> None:
    """Rewrite every operation of ``app``'s OpenAPI document, once, before it is served.

    ``app.openapi_schema`` builds the document and Litestar keeps that object; the served
    ``/schema/openapi.json`` is rendered from it, so the changes here are what clients get.
    """
    openapi = app.openapi_schema
    assert openapi.components is not None  # build_app always passes components
    openapi.components.schemas = {**(openapi.components.schemas or {}), "Problem": PROBLEM_SCHEMA}
    paths: dict[str, Any] = openapi.paths or {}
    seen: set[int] = set()  # an operation is rewritten once, whichever route reaches it
    for route in app.routes:
        path_item = paths.get(route.path_format or "/")
        if path_item is None:
            continue  # not in the document (the /schema routes)
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods:
                operation = getattr(path_item, method.lower(), None)
                if isinstance(operation, Operation) and id(operation) not in seen:
                    seen.add(id(operation))
                    describe_operation(handler, operation)


__all__ = ["PROBLEM_SCHEMA", "RequestBody", "describe_responses", "problem_statuses"]
