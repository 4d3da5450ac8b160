"""``BatchFastPath`` answers plain batch bodies itself and passes every other body on, replayed:
the answers and problems are the framework handler's, whichever path a body takes."""

from __future__ import annotations

import json

from tests.api.check.helpers import granted
from tests.ledger_helpers import make_subject


async def post_raw(consent, auth, body: bytes, content_type: str = "application/json"):
    headers = {**auth("marketing"), "Content-Type": content_type}
    return await consent.post("/v1/check/batch", content=body, headers=headers)


async def test_plain_and_escaped_bodies_get_the_same_answer(consent, auth, new_id):
    key, yes, _ = await granted(consent, auth, new_id)
    quoted = new_id('cust"q\\b')  # a quote and a backslash: the body spells them escaped
    await make_subject(consent, auth, quoted)
    subjects = [yes, quoted, new_id("ghost"), yes]
    document = {"purpose": key, "channel": "email", "subjects": subjects}
    plain = await post_raw(consent, auth, json.dumps(document).encode())
    ascii_escaped = json.dumps(document, ensure_ascii=True).replace(
        key, key[0] + "\\u00" + f"{ord(key[1]):02x}" + key[2:]
    )
    escaped = await post_raw(consent, auth, ascii_escaped.encode())
    odd_type = await post_raw(
        consent, auth, json.dumps(document).encode(), "Application/JSON ;charset=UTF-8"
    )
    assert plain.status_code == escaped.status_code == odd_type.status_code == 200, escaped.text
    assert plain.content == escaped.content == odd_type.content
    results = plain.json()["results"]
    assert [r["subject"] for r in results] == subjects
    assert [r["allowed"] for r in results] == [True, False, False, True]
    assert results[2]["reasons"] == ["unknown_subject"]
    assert plain.headers["cache-control"] == escaped.headers["cache-control"] == "no-store"
    assert plain.headers["content-type"] == escaped.headers["content-type"]


async def test_bodies_the_fast_path_refuses_still_get_their_problems(consent, auth):
    twice = b'{"purpose":"p","channel":"email","subjects":[],"subjects":["a"]}'
    resp = await post_raw(consent, auth, twice)
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "subjects"
    unknown = await post_raw(
        consent, auth, b'{"purpose":"p","channel":"email","subjects":[],"x":1}'
    )
    assert unknown.status_code == 422
    lax = await post_raw(consent, auth, b'{"purpose":"p","channel":"email","subjects":[1]}')
    assert lax.status_code == 422
    text = await post_raw(
        consent, auth, b'{"purpose":"p","channel":"email","subjects":[]}', "text/plain"
    )
    assert text.status_code == 415
    broken = await post_raw(consent, auth, b'{"purpose":"p","channel":"email","subjects":[')
    assert broken.status_code == 400
    past = b'{"purpose":"p","channel":"email","subjects":[],"at":"2001-01-01T00:00:00Z"}'
    assert (await post_raw(consent, auth, past)).status_code == 422
    for resp in (unknown, lax, text, broken):
        assert resp.headers["content-type"].startswith("application/problem+json")


async def test_a_plain_body_without_a_token_is_refused(consent):
    body = b'{"purpose":"p","channel":"email","subjects":["a"]}'
    resp = await consent.post(
        "/v1/check/batch", content=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 401
