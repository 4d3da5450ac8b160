"""Request ids are RFC 9562 UUIDs, so a problem's ``instance`` can be ``urn:uuid:<id>``."""

from __future__ import annotations

import uuid

from shared.logging import _request_id, new_request_id


def test_a_new_request_id_is_a_canonical_version_8_uuid_and_never_repeats():
    ids = [new_request_id() for _ in range(1000)]
    for request_id in ids[:50]:
        parsed = uuid.UUID(request_id)
        assert str(parsed) == request_id
        assert parsed.version == 8 and parsed.variant == uuid.RFC_4122
    assert len(set(ids)) == len(ids)


def scope(value: bytes) -> dict:
    return {"headers": [(b"x-request-id", value)]}


def test_a_client_request_id_is_kept_only_when_it_is_a_uuid():
    mine = uuid.uuid4()
    assert _request_id(scope(str(mine).upper().encode())) == str(mine)
    for other in (b"trace-12345678", str(mine).encode() + b"x", b"", b"urn:uuid:" + bytes(8)):
        kept = _request_id(scope(other))
        assert kept != other.decode(errors="replace") and uuid.UUID(kept).version == 8
