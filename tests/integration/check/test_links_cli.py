"""``lupa link unsubscribe`` prints a URL whose one-click POST withdraws the consent."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json

import pytest

from lupa.cli.main import main
from shared.keys import unb64u
from tests.api.check.helpers import check, granted

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def run_cli(argv: list[str], env: dict[str, str], monkeypatch) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return out.getvalue().strip()


async def test_the_cli_link_unsubscribes_its_subject(
    consent, auth, new_id, keyring, database_url, monkeypatch
):
    key, ext, _ = await granted(consent, auth, new_id)
    env = {
        "DATABASE_URL": database_url,
        "LUPA_KEYRING": keyring.to_json(),
        "LUPA_CONSENT_PUBLIC_URL": "http://testserver.local",
    }
    url = await asyncio.to_thread(
        run_cli,
        ["link", "unsubscribe", "--subject", ext, "--purpose", key, "--channel", "email"],
        env,
        monkeypatch,
    )
    assert url.startswith("http://testserver.local/v1/unsubscribe/")
    claims = json.loads(unb64u(url.rsplit("/", 1)[1].split(".")[1]))
    assert claims["typ"] == "unsubscribe" and ext not in url  # the customer id stays private
    resp = await consent.post(url.removeprefix("http://testserver.local"), data=ONE_CLICK)
    assert resp.status_code == 200
    assert (await check(consent, auth, ext, key))["reasons"] == ["withdrawn"]
    printed = await asyncio.to_thread(run_cli, ["link", "suppression-key"], env, monkeypatch)
    assert unb64u(printed) == keyring.suppression_key


def refused(argv: list[str], env: dict[str, str], monkeypatch) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        main(argv)
    assert out.getvalue() == ""  # no URL printed
    return str(exit_.value)


async def test_the_cli_refuses_a_link_for_an_unknown_purpose_or_a_channel_it_does_not_use(
    consent, auth, new_id, keyring, database_url, monkeypatch
):
    key, ext, _ = await granted(consent, auth, new_id)  # a purpose on email and sms
    env = {"DATABASE_URL": database_url, "LUPA_KEYRING": keyring.to_json()}
    unknown = new_id("nope")
    for purpose, channel, message in (
        (unknown, "email", "There is no purpose with this key."),
        (key, "push", "The purpose does not use this channel."),
    ):
        argv = ["link", "unsubscribe", "--subject", ext, "--purpose", purpose, "--channel", channel]
        assert await asyncio.to_thread(refused, argv, env, monkeypatch) == message
