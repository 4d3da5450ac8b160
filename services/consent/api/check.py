"""``/v1/check`` and ``/v1/check/batch``: may a sender contact this subject now?

The hot path: no SQLAlchemy session and no transaction dependency, one prepared statement on
the check pool, the token verified through the LRU-cached verifier. ``GET /v1/check`` is
declared as a normal ``@get`` handler (guard, parameters, OpenAPI), and its route middleware
``CheckFastPath`` answers every well-formed, authorized request itself, skipping the
framework's per-request work; anything else goes on to the handler, which gives exactly the
problem it always gave. A database that cannot answer gives ``503`` whose problem body still
says ``allowed: false``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import unquote

import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.types import (
    ASGIApp,
    Receive,
    Scope,
    Send,
)

from services.consent.domain.check import CheckDecision
from services.consent.domain.subjects import EXTERNAL_ID_PATTERN
from services.consent.domain.vocabulary import PURPOSE_KEY_PATTERN, TOPIC_SLUG_PATTERN, Channel
from services.consent.service.check import CHECK_POOL_KEY, MAX_BATCH, BatchAnswer, CheckService
from shared.auth.guards import authorize, requires
from shared.errors import InvalidInput, LupaError, PayloadTooLarge
from shared.fast_path import member_names, plain_json, read_json_body, replay, send_json

SubjectParam = Annotated[
    str, QueryParameter(pattern=EXTERNAL_ID_PATTERN, description="external id")
]
PurposeParam = Annotated[
    str, QueryParameter(pattern=PURPOSE_KEY_PATTERN, description="purpose key")
]
TopicParam = Annotated[
    str | None, QueryParameter(pattern=TOPIC_SLUG_PATTERN, description="topic slug")
]
ExternalId = Annotated[str, msgspec.Meta(pattern=EXTERNAL_ID_PATTERN)]
PurposeKey = Annotated[str, msgspec.Meta(pattern=PURPOSE_KEY_PATTERN)]
TopicSlug = Annotated[str, msgspec.Meta(pattern=TOPIC_SLUG_PATTERN)]
# Senders schedule ahead, never back: a past instant could revive an expired consent. Ahead
# is bounded too: a year covers any campaign schedule, and facts change long before then.
PAST_TOLERANCE = timedelta(minutes=5)
FUTURE_HORIZON = timedelta(days=366)
NO_STORE = CacheControlHeader(no_store=True)
# 10,000 ids of up to 128 characters, quoted and separated, plus the envelope.
BATCH_BODY_LIMIT = MAX_BATCH * 132 + 4096
CHECK_ROLES = ("marketing", "admin")
_ENCODE = msgspec.json.Encoder().encode


class CheckResult(msgspec.Struct, kw_only=True):
    """The answer to one check (keyword-only, so that a ``BatchItem`` can put its subject first)."""

    allowed: bool
    reasons: list[str]
    purpose_version: int | None
    basis: str | None
    evidence: uuid.UUID | None
    deliver_after: datetime | None

    @classmethod
    def of(cls, d: CheckDecision) -> CheckResult:
        return cls(
            allowed=d.allowed,
            reasons=list(d.reasons),
            purpose_version=d.purpose_version,
            basis=d.basis,
            evidence=d.evidence,
            deliver_after=d.deliver_after,
        )


class BatchItem(CheckResult):
    """One subject's answer in a batch: its id, then the same fields as ``CheckResult``."""

    subject: str


class BatchCheck(msgspec.Struct, forbid_unknown_fields=True):
    purpose: PurposeKey
    channel: Channel
    subjects: list[ExternalId]
    topic: TopicSlug | None = None
    at: datetime | None = None


class BatchResults(msgspec.Struct):
    results: list[BatchItem]


def encode_batch(subjects: Sequence[str], answers: Sequence[BatchAnswer]) -> bytes:
    """``BatchResults`` as JSON, byte for byte, each distinct decision encoded once.

    Subjects alike share one decision object (``CheckService.check_batch``), so only the id
    and the evidence are encoded per subject, between the decision's two halves; building
    and encoding a ``BatchItem`` per subject cost a quarter of a batch's time.
    """
    halves: dict[int, tuple[bytes, bytes]] = {}
    parts = [b'{"results":[']
    for subject, (decision, evidence) in zip(subjects, answers, strict=True):
        around = halves.get(id(decision))
        if around is None:
            around = halves[id(decision)] = _around_evidence(decision)
        parts += (b'{"subject":', _ENCODE(subject), around[0], _ENCODE(evidence), around[1])
    if len(parts) > 1:
        parts[-1] = parts[-1][:-1]  # no comma after the last item
    parts.append(b"]}")
    return b"".join(parts)


def _around_evidence(d: CheckDecision) -> tuple[bytes, bytes]:
    """A decision's item without subject and evidence: what comes after each of them."""
    result = _ENCODE(CheckResult.of(d._replace(evidence=None)))
    head, tail = result.removeprefix(b"{").split(b',"evidence":null')
    return b"," + head + b',"evidence":', tail + b","


def check_service(request: Request[Any, Any, Any]) -> CheckService:
    return request.app.state[CHECK_POOL_KEY]  # type: ignore[no-any-return]


def evaluation_time(at: datetime | None) -> datetime | None:
    """``at`` as an aware instant, refusing one in the past (beyond clock skew)."""
    if at is None:
        return None
    if at.tzinfo is None:
        raise InvalidInput(
            "at must carry a time zone offset, e.g. 2026-12-01T09:00:00Z.", field="at"
        )
    now = datetime.now(UTC)
    if at < now - PAST_TOLERANCE:
        raise InvalidInput("at must not be in the past.", field="at")
    if at > now + FUTURE_HORIZON:
        raise InvalidInput("at must be within a year from now.", field="at")
    return at


class CheckQuery(msgspec.Struct):
    """The query of ``GET /v1/check``, with the same rules as the handler's parameters."""

    subject: ExternalId
    purpose: PurposeKey
    channel: Channel
    topic: TopicSlug | None = None
    at: datetime | None = None


_JSON_HEADERS = (
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
)


def query_params(query_string: bytes) -> dict[str, str]:
    """``dict(parse_qsl(qs.decode("latin-1"), keep_blank_values=True, separator="&"))``, faster.

    The framework's reading (last value wins): pairs split on ``&``, a missing ``=`` is a blank
    value, ``+`` is a space and ``%XX`` is decoded (UTF-8, invalid bytes replaced) only where
    present; most check queries have neither, so most pairs skip ``unquote``. Tests compare
    the two on random inputs.
    """
    params: dict[str, str] = {}
    for pair in query_string.decode("latin-1").split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in name or "+" in name:
            name = unquote(name.replace("+", " "))
        if "%" in value or "+" in value:
            value = unquote(value.replace("+", " "))
        params[name] = value
    return params


def well_formed(scope: Scope) -> tuple[CheckQuery, datetime | None] | None:
    """The query and instant of an authorized, valid check; ``None`` for anything else."""
    try:
        authorize(scope, CHECK_ROLES)
        query = msgspec.convert(query_params(scope["query_string"]), CheckQuery, strict=False)
        return query, evaluation_time(query.at)
    except (LupaError, msgspec.ValidationError):
        return None


class CheckFastPath:
    """Route middleware of ``GET /v1/check``: serves a well-formed, authorized check directly.

    Same service call and rules as the handler, the answer msgspec-encoded straight to bytes
    with ``Cache-Control: no-store``. A request it does not accept (no or wrong token, bad or
    missing parameters, an ``at`` in the past) goes on to the ``@get`` handler, whose guard and
    parameter validation answer it as before, so the error responses cannot drift. It skips,
    per request: the guard's connection copy, the kwargs model and signature validation, the
    response object (profile in benchmarks/NOTES.md).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        accepted = well_formed(scope)
        if accepted is None:
            await self.app(scope, receive, send)
            return
        query, at = accepted
        service: CheckService = scope["litestar_app"].state[CHECK_POOL_KEY]
        # Unavailable propagates to the exception handlers: the same 503 as from the handler.
        decision = await service.check(query.subject, query.purpose, query.channel, query.topic, at)
        await send_json(send, 200, _ENCODE(CheckResult.of(decision)), _JSON_HEADERS)


async def answer_batch(service: CheckService, data: BatchCheck, at: datetime | None) -> bytes:
    """The JSON of ``BatchResults`` for a valid batch of at most ``MAX_BATCH`` subjects."""
    answers = await service.check_batch(data.subjects, data.purpose, data.channel, data.topic, at)
    return encode_batch(data.subjects, answers)


_decode_batch = msgspec.json.Decoder(BatchCheck).decode
_BATCH_MEMBERS = member_names(BatchCheck.__struct_fields__)


async def read_batch_body(scope: Scope, receive: Receive) -> tuple[bytes | None, list[Any]]:
    """The body of a plain JSON batch request (``shared.fast_path.read_json_body``)."""
    return await read_json_body(scope, receive, BATCH_BODY_LIMIT)


def well_formed_batch(scope: Scope, body: bytes) -> tuple[BatchCheck, datetime | None] | None:
    """The batch and instant of an authorized, valid batch the handler would answer; ``None``
    for anything else (escapes, a member given twice, too many subjects, a bad ``at``...)."""
    if not plain_json(body, _BATCH_MEMBERS):
        return None
    try:
        authorize(scope, CHECK_ROLES)
        data = _decode_batch(body)
        if len(data.subjects) > MAX_BATCH:
            return None
        return data, evaluation_time(data.at)
    # Invalid UTF-8 in a string raises UnicodeDecodeError: the handler's 400, not a 500.
    except (LupaError, msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
        return None


class BatchFastPath:
    """Route middleware of ``POST /v1/check/batch``: answers a valid, authorized batch directly.

    The framework reads a batch body three times (strict JSON with the standard library, then
    two conversions to ``BatchCheck``, each checking 10,000 ids against the pattern): a fifth of
    a batch's CPU. Here a body that is plain JSON (no escapes, no member twice, the declared
    content type and length) is decoded once by msgspec straight into ``BatchCheck``, strictly,
    which accepts a subset of what the handler accepts and reads it alike. Anything else,
    including every error, goes on to the handler with the body replayed, so the problems
    cannot drift.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, messages = await read_batch_body(scope, receive)
        accepted = None if body is None else well_formed_batch(scope, body)
        if accepted is None:
            await self.app(scope, replay(messages, receive), send)
            return
        data, at = accepted
        service: CheckService = scope["litestar_app"].state[CHECK_POOL_KEY]
        # Unavailable propagates to the exception handlers: the same 503 as from the handler.
        answer = await answer_batch(service, data, at)
        await send_json(send, 200, answer, _JSON_HEADERS)


class CheckController(Controller):
    path = "/v1/check"
    tags = ["check"]

    @get(
        guards=[requires(*CHECK_ROLES)],
        middleware=[CheckFastPath],
        cache_control=NO_STORE,
        summary="May this subject be contacted for a purpose on a channel now? Every no says why",
    )
    async def check(
        self,
        request: Request[Any, Any, Any],
        subject: SubjectParam,
        purpose: PurposeParam,
        channel: FromQuery[Channel],
        topic: TopicParam = None,
        at: FromQuery[datetime | None] = None,
    ) -> CheckResult:
        # Reached by the requests CheckFastPath passes on: the guard or validation refuses them.
        decision = await check_service(request).check(
            subject, purpose, channel, topic, evaluation_time(at)
        )
        return CheckResult.of(decision)

    @post(
        "/batch",
        guards=[requires(*CHECK_ROLES)],
        middleware=[BatchFastPath],
        cache_control=NO_STORE,
        status_code=200,
        request_max_body_size=BATCH_BODY_LIMIT,
        summary="Check up to 10,000 subjects in one call; results in request order",
    )
    async def check_batch(
        self, request: Request[Any, Any, Any], data: JSONBody[BatchCheck]
    ) -> Response[BatchResults]:
        # Reached by the requests BatchFastPath passes on; the same answer for those it accepts.
        if len(data.subjects) > MAX_BATCH:
            raise PayloadTooLarge(
                f"A batch holds at most {MAX_BATCH} subjects; split the list.",
                max_subjects=MAX_BATCH,
            )
        # Already the JSON of BatchResults (the annotation keeps it in the OpenAPI document).
        body: Any = await answer_batch(check_service(request), data, evaluation_time(data.at))
        return Response(body, media_type=MediaType.JSON)
