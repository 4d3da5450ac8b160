"""A replica that does not hold the key a subject's data is sealed with (a key rotation not
yet rolled out to it: a keyring from ``LUPA_KEYRING`` is read once) answers 503, retryable,
as a problem — never a 500, never the data, and nothing changes."""

from __future__ import annotations

from sqlalchemy import text


async def test_data_under_a_key_this_process_lacks_is_a_retryable_503(
    consent, auth, new_id, engine
):
    ext = new_id("cust")
    body = {"email": "kek@example.fi", "name": "Kaisa"}
    assert (
        await consent.put(f"/v1/subjects/{ext}", json=body, headers=auth("admin"))
    ).status_code == 201
    select_key = text(
        "SELECT k.kek_id FROM subject_keys k JOIN subjects s ON s.id = k.subject_id"
        " WHERE s.external_id = :ext"
    )
    relabel = text(
        "UPDATE subject_keys SET kek_id = :kek FROM subjects s"
        " WHERE s.id = subject_keys.subject_id AND s.external_id = :ext"
    )
    async with engine.begin() as conn:
        kek = (await conn.execute(select_key, {"ext": ext})).scalar_one()
        # As if wrapped by a KEK added by a rotation this process has not seen.
        await conn.execute(relabel, {"kek": "kek-from-a-later-rotation", "ext": ext})
    try:
        resp = await consent.get(f"/v1/subjects/{ext}", headers=auth("admin"))
        assert resp.status_code == 503, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        problem = resp.json()
        assert problem["type"].endswith("unavailable")
        assert "kek@example.fi" not in resp.text and "Kaisa" not in resp.text
    finally:
        async with engine.begin() as conn:
            await conn.execute(relabel, {"kek": kek, "ext": ext})
    again = await consent.get(f"/v1/subjects/{ext}", headers=auth("admin"))
    assert again.status_code == 200 and again.json()["email"] == "kek@example.fi"
