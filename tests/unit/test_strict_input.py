"""The strict JSON reading and the control-character scan, without HTTP."""

from __future__ import annotations

import pytest

from shared.errors import InvalidInput
from shared.strict_input import (
    MAX_DEPTH,
    MalformedBody,
    UnsupportedMediaType,
    check_media_type,
    control_character_fields,
    decode_json,
)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_nesting_up_to_the_limit_is_read_and_one_more_is_refused():
    assert decode_json(nested(MAX_DEPTH)) is not None
    with pytest.raises(MalformedBody):
        decode_json(nested(MAX_DEPTH + 1))
    with pytest.raises(MalformedBody):
        decode_json(b'{"a": ' + nested(MAX_DEPTH) + b"}")


@pytest.mark.parametrize(
    "body",
    [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": 1e999}', b'{"a": "\\ud800"}', b"\xef\xbb\xbf{}"],
)
def test_what_json_tolerates_and_no_database_can_store_is_refused(body):
    with pytest.raises(MalformedBody):
        decode_json(body)


def test_escapes_and_surrogate_pairs_are_read():
    assert decode_json(b'{"a": "\\u00e4\\ud83d\\ude00"}') == {"a": "\u00e4\U0001f600"}
    assert decode_json(b"") is None


def test_a_nested_duplicate_is_named():
    with pytest.raises(InvalidInput) as refused:
        decode_json(b'{"channels": {"email": true, "email": false}}')
    assert [e["field"] for e in refused.value.extensions["errors"]] == ["email"]


@pytest.mark.parametrize(
    ("media_type", "options", "method"),
    [
        ("application/json", {}, "POST"),
        ("APPLICATION/JSON", {"charset": "UTF-8"}, "PUT"),
        ("application/merge-patch+json", {}, "PATCH"),
    ],
)
def test_json_media_types_are_accepted(media_type, options, method):
    check_media_type(media_type, options, method)


@pytest.mark.parametrize(
    ("media_type", "options", "method"),
    [
        ("application/merge-patch+json", {}, "POST"),
        ("application/json", {"charset": "latin-1"}, "POST"),
        ("text/json", {}, "POST"),
        ("", {}, "PUT"),
    ],
)
def test_other_media_types_are_refused(media_type, options, method):
    with pytest.raises(UnsupportedMediaType):
        check_media_type(media_type, options, method)


def scope(query: bytes, path: str = "/x", **params: str) -> dict:
    return {"path": path, "query_string": query, "path_params": params}


def test_the_query_is_read_as_the_framework_reads_it():
    assert control_character_fields(scope(b"a=%C4%80+b&c")) == []  # U+0100 and a space
    assert control_character_fields(scope(b"a=1&b=x%00&b=%0a")) == ["b"]
    assert control_character_fields(scope(b"%7F=1")) == ["query"]


def test_a_path_parameter_is_named():
    assert control_character_fields(scope(b"", "/s/a\x00", external_id="a\x00")) == ["external_id"]
    assert control_character_fields(scope(b"", "/s\x1b/a")) == ["path"]


@pytest.mark.parametrize("raw", [b"a=\x00", b"a=x\x1f", b"a=\x7f", b"a=\xc2\x85", b"a=%C2%9F"])
def test_raw_and_escaped_control_characters_are_both_found(raw):
    assert control_character_fields(scope(raw)) == ["a"]
