"""Expiry: a lapsed grant reads as expired, and the job writes it into the history once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.consent.service.expiry import expire_due
from services.consent.service.receipts import LedgerContext
from services.consent.settings import ControllerSettings
from tests.ledger_helpers import make_purpose, post_consent, scene

CONTEXT = LedgerContext.from_settings("http://testserver.local", ControllerSettings())


async def test_expire_job_records_each_lapsed_grant_once(
    consent, auth, new_id, session_factory, keyring
):
    key, ext = await scene(consent, auth, new_id, validity_days=30)
    await post_consent(consent, auth, ext, key)
    await post_consent(consent, auth, ext, key, channel="sms")
    later = datetime.now(UTC) + timedelta(days=31)
    assert await expire_due(session_factory, keyring, CONTEXT, now=later, purpose_key=key) == 2
    assert await expire_due(session_factory, keyring, CONTEXT, now=later, purpose_key=key) == 0
    history = (
        await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("admin"))
    ).json()
    assert [(e["action"], e["state"]) for e in history][-2:] == [("expire", "expired")] * 2
    assert history[-1]["actor"] == "system:expiry"
    states = (await consent.get(f"/v1/subjects/{ext}/consents", headers=auth("admin"))).json()
    assert {s["state"] for s in states} == {"expired"}


async def test_grant_within_validity_is_left_alone(consent, auth, new_id, session_factory, keyring):
    key, ext = await scene(consent, auth, new_id, validity_days=30)
    await post_consent(consent, auth, ext, key)
    soon = datetime.now(UTC) + timedelta(days=29)
    assert await expire_due(session_factory, keyring, CONTEXT, now=soon, purpose_key=key) == 0


async def test_changed_text_that_needs_renewal_flags_old_grants(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id, validity_days=365)
    await post_consent(consent, auth, ext, key)
    state = (await consent.get(f"/v1/subjects/{ext}/consents", headers=auth("admin"))).json()[0]
    assert state["renewal_required"] is False and state["expires_at"]
    await make_purpose(
        consent,
        auth,
        key,
        validity_days=365,
        require_renewal=True,
        title={"en": "Newsletter, now with partners"},
    )
    state = (await consent.get(f"/v1/subjects/{ext}/consents", headers=auth("admin"))).json()[0]
    assert state["renewal_required"] is True
    renewed = (await post_consent(consent, auth, ext, key)).json()
    assert (
        renewed["event"]["purpose_version"] == 2 and renewed["state"]["renewal_required"] is False
    )


async def test_lupa_consents_expire_runs_against_the_database(
    database_url, monkeypatch, tmp_path, capsys
):
    import asyncio

    from lupa.cli.main import main

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LUPA_KEYS_FILE", str(tmp_path / "keyring.json"))
    code = await asyncio.to_thread(main, ["consents", "expire", "--purpose", "no-such-purpose"])
    assert code == 0
    assert "recorded 0 expiry event(s)" in capsys.readouterr().out
