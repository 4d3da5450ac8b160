"""What the HTTP edge refuses before a handler runs: bodies that are not strict JSON, and
control characters in the path or the query.

Litestar reads any body as JSON whatever its ``Content-Type``, lets the last of duplicated
members win, and lets a ``RecursionError`` or ``UnicodeDecodeError`` escape as a 500; a NUL in
a query parameter reaches PostgreSQL, which refuses it with a 500. Here each is a problem:

* a JSON-body route takes ``application/json`` (a ``PATCH`` also
  ``application/merge-patch+json``, RFC 7396), UTF-8 only: anything else is ``415``;
* a body that is not UTF-8, not JSON, holds a lone surrogate escape, ``NaN`` or ``Infinity``,
  or nests deeper than ``MAX_DEPTH`` is ``400``;
* a member given twice in one object is ``422`` naming the member (never its value);
* a member whose JSON type is not the declared one (``"30"`` for an integer) is ``422``
  (``shared.strict_types``);
* a control character (C0, DEL, C1) anywhere in the decoded path or query is ``422``;
* an integer query parameter not written as decimal digits (``1e3``) is ``422``.

Routes that read their body otherwise (the RFC 8058 one-click form) never call
``Request.json`` and are not affected.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

import msgspec
from litestar import Request
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.utils.empty import value_or_default

from shared.errors import InvalidInput, LupaError
from shared.strict_types import check_body_types, refuse_loose_integers

JSON_MEDIA_TYPE = "application/json"
MERGE_PATCH_MEDIA_TYPE = "application/merge-patch+json"
# No Lupa body nests deeper than four levels; the margin is for future documents.
MAX_DEPTH = 32
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What a raw query needs to hold a control character once decoded: a raw one (C1 as UTF-8
# starts with C2) or a percent escape. Most queries have neither and skip the decoding; one
# character class, because an alternation here costs a check request over a microsecond.
MAYBE_CONTROL = re.compile(rb"[\x00-\x1f\x7f%\xc2]")


class UnsupportedMediaType(LupaError):
    status, slug, title = 415, "unsupported-media-type", "The body's media type is not accepted"


class MalformedBody(LupaError):
    """The framework's ``bad-request`` (400), raised where Lupa reads the body itself."""


class _DuplicateMember(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _DuplicateMember(name)
            seen.add(name)
    return members


def _no_constant(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return number


_decoder = json.JSONDecoder(
    object_pairs_hook=_unique_members, parse_constant=_no_constant, parse_float=_finite
)


def accepted_media_types(method: str) -> tuple[str, ...]:
    if method == "PATCH":
        return (JSON_MEDIA_TYPE, MERGE_PATCH_MEDIA_TYPE)
    return (JSON_MEDIA_TYPE,)


def check_media_type(media_type: str, options: dict[str, str], method: str) -> None:
    accepted = accepted_media_types(method)
    if media_type.lower() not in accepted:
        raise UnsupportedMediaType(
            f"Send the body as {' or '.join(accepted)}.", accepted=list(accepted)
        )
    charset = options.get("charset", "utf-8").strip('"').lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("JSON bodies are read as UTF-8 only.", accepted=list(accepted))


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests lists and objects more than ``limit`` levels (iterative walk)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def decode_json(body: bytes) -> Any:
    """``body`` as JSON, strictly (see the module docstring); an empty body is ``None``."""
    if not body:
        return None
    try:
        text = body.decode("utf-8")
        value = _decoder.decode(text)
        if "\\u" in text:
            # json accepts a lone surrogate escape, which no database column can store;
            # msgspec refuses it. Only bodies with escapes pay for the second reading.
            msgspec.json.decode(body)
    except _DuplicateMember as dup:
        field = {"field": dup.name[:64], "message": "appears more than once in one object"}
        raise InvalidInput(
            "A member appears more than once in one JSON object.", errors=[field]
        ) from None
    except (ValueError, RecursionError, msgspec.DecodeError):
        # UnicodeDecodeError and JSONDecodeError are ValueErrors; neither message is echoed.
        raise MalformedBody("The body is not valid UTF-8 JSON.") from None
    # A body can only nest deeper than the limit if it has that many brackets.
    if text.count("[") + text.count("{") > MAX_DEPTH and too_deep(value):
        raise MalformedBody(f"The body nests deeper than {MAX_DEPTH} levels.")
    return value


class StrictJSONRequest(Request[Any, Any, Any]):
    """The app's request class: ``json()`` (what ``data: JSONBody[...]`` reads) is strict."""

    async def json(self) -> Any:
        cached = value_or_default(self._connection_state.json, None)
        if cached is not None:
            return cached
        media_type, options = self.content_type
        check_media_type(media_type, options, self.method)
        value = decode_json(await self.body())
        if value is not None:
            check_body_types(self.route_handler, value)
        self._connection_state.json = value
        return value


def _decoded(part: bytes) -> str:
    """A query name or value as the framework reads it: ``+`` a space, ``%XX`` UTF-8."""
    return unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8", "replace")


def control_character_fields(scope: Scope) -> list[str]:
    """The path and query parameters holding a control character (``path``/``query`` when
    the character is outside any named parameter)."""
    fields: list[str] = []
    if CONTROL_CHARACTER.search(scope["path"]):
        fields = [
            name
            for name, value in scope.get("path_params", {}).items()
            if isinstance(value, str) and CONTROL_CHARACTER.search(value)
        ] or ["path"]
    query: bytes = scope.get("query_string", b"")
    # Decoding the whole query first keeps the common case (nothing found) to one search.
    if query and MAYBE_CONTROL.search(query) and CONTROL_CHARACTER.search(_decoded(query)):
        for pair in query.split(b"&"):
            raw_name, _, raw_value = pair.partition(b"=")
            name, value = _decoded(raw_name), _decoded(raw_value)
            if CONTROL_CHARACTER.search(name):
                fields.append("query")
            elif CONTROL_CHARACTER.search(value):
                fields.append(name)
    return list(dict.fromkeys(fields)) if fields else fields


class RefuseControlCharacters:
    """App middleware: no path or query parameter with a control character reaches a handler
    (PostgreSQL refuses NUL with an error, and none belongs in an id, a key or a filter), nor
    a query integer in another notation than decimal digits (one middleware for both: every
    layer costs the check hot path). It runs after routing, so it names the parameter."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # type: ignore[comparison-overlap]
            fields = control_character_fields(scope)
            if fields:
                message = "must not hold control characters"
                raise InvalidInput(
                    "A path or query parameter holds a control character.",
                    errors=[{"field": field, "message": message} for field in fields],
                )
            refuse_loose_integers(scope)
        await self.app(scope, receive, send)
