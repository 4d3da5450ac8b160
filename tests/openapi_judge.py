"""Every response the API tests receive is judged against the app's own OpenAPI document.

openapi-core (independent of Litestar, which writes the document) validates the status, the
content type, the documented headers and the body of each response; a response the document
does not describe fails the test that received it. Streamed responses (``client.stream``) are
judged on status and content type only: their body is still unread when the client returns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.response.exceptions import DataValidationError

HOST = "http://testserver.local"
PROBLEM_JSON = "application/problem+json"
# Bodies the document describes as text (streams and exports); openapi-core hands them on as
# bytes, so they are decoded before the document's ``type: string`` judges them.
TEXT_MEDIA_TYPES = ("application/x-ndjson", "text/csv", "text/event-stream")
# Paths the document does not describe on purpose: the document itself and its viewers, the
# web pages (not API: left out of the document) and the static files they use.
UNDOCUMENTED_PREFIXES = ("/schema", "/static/", "/console", "/request")
# The allow-list: answers that belong to no operation, so no operation can describe them.
# A path the document lacks answers 404 and a method it lacks 405 (both problems, with their
# Allow header, judged by tests/api/test_http_methods.py), and OPTIONS is answered on every path
# by the app itself (below; its Allow is judged there too); anything else the document cannot
# find fails. HEAD is judged as the path's GET (``mock_request``).
NOT_AN_OPERATION = {PathNotFound: 404, OperationNotFound: 405}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _lacks_the_method(document: OpenAPI, request: httpx.Request) -> bool:
    """The document has this exact path, but not with this method: a 405 of no operation.

    (openapi-core matches a literal path such as ``/v1/subjects/lookup``, which has only POST,
    against the template ``/v1/subjects/{external_id}`` too, and then expects that template's
    GET to describe the 405.)
    """
    paths = document.spec / "paths"
    if request.url.path not in paths:
        return False
    method = request.method.lower()
    return method in HTTP_METHODS and method not in paths / request.url.path


def _content(request: httpx.Request) -> bytes:
    try:
        return request.content
    except httpx.RequestNotRead:
        return b""


def mock_request(request: httpx.Request) -> MockRequest:
    # HEAD is the GET of the same path without the body (RFC 9110 §9.3.2; shared/http_methods.py),
    # so the document's GET judges its status and headers.
    method = "get" if request.method == "HEAD" else request.method.lower()
    return MockRequest(
        HOST,
        method,
        request.url.path,
        args=dict(request.url.params),
        headers=dict(request.headers),
        data=_content(request),
        content_type=request.headers.get("content-type", ""),
    )


def mock_response(response: httpx.Response, *, body: bool = True) -> MockResponse:
    return MockResponse(
        response.content if body else b"",
        status_code=response.status_code,
        headers=dict(response.headers),
        content_type=response.headers.get("content-type", ""),
    )


def response_errors(document: OpenAPI, response: httpx.Response, *, body: bool = True) -> list[str]:
    """What the document gets wrong about ``response`` (empty when it describes it)."""
    request = response.request
    if request.url.path.startswith(UNDOCUMENTED_PREFIXES):
        return []
    errors = []
    body = body and request.method != "HEAD"  # a HEAD answer has no body to judge
    for error in document.iter_response_errors(
        mock_request(request), mock_response(response, body=body)
    ):
        if NOT_AN_OPERATION.get(type(error)) == response.status_code:
            continue
        if response.status_code == 405 and _lacks_the_method(document, request):
            continue
        if request.method == "OPTIONS" and isinstance(error, OperationNotFound):
            continue  # Litestar answers OPTIONS on every path itself (204 with Allow)
        if not body and isinstance(error, DataValidationError):
            continue  # the unread body of a stream: status and content type were judged
        cause = error.__cause__ or error.__context__
        text = f"{type(error).__name__}: {error}" + (f" ({cause})" if cause else "")
        errors.append(text[:400])
    return errors


def judge(document: OpenAPI, response: httpx.Response, *, body: bool = True) -> None:
    errors = response_errors(document, response, body=body)
    if errors:
        request = response.request
        raise AssertionError(
            f"{request.method} {request.url.path} answered {response.status_code} "
            f"{response.headers.get('content-type')}, which the OpenAPI document does not "
            f"describe: {errors}"
        )


def judge_all(document: OpenAPI, responses: Iterable[httpx.Response]) -> None:
    for response in responses:
        judge(document, response)


class JudgedClient(AsyncTestClient[Litestar]):
    """An ``AsyncTestClient`` whose every response must match the app's OpenAPI document."""

    document: OpenAPI | None = None

    async def send(self, request: httpx.Request, *args: Any, **kwargs: Any) -> httpx.Response:
        response = await super().send(request, *args, **kwargs)
        if self.document is not None:
            judge(self.document, response, body=not kwargs.get("stream", False))
        return response


async def load_document(client: AsyncTestClient[Litestar]) -> OpenAPI:
    """The document as an integrator downloads it."""
    served = await client.get("/schema/openapi.json")
    assert served.status_code == 200
    return judge_of(served.json())


def _text(body: bytes | str, **parameters: str) -> str:
    if isinstance(body, bytes):
        return body.decode(parameters.get("charset", "utf-8"))
    return body


def _json(body: bytes | str, **_parameters: str) -> Any:
    return json.loads(body)


def judge_of(document: dict[str, Any]) -> OpenAPI:
    """openapi-core over ``document``; problem+json is JSON (RFC 9457), which this version of
    openapi-core does not know by itself."""
    config = Config(
        extra_media_type_deserializers={
            PROBLEM_JSON: _json,
            **{media_type: _text for media_type in TEXT_MEDIA_TYPES},
        }
    )
    return OpenAPI.from_dict(document, config=config)
