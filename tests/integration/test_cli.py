"""The ``lupa`` command line: help everywhere, tokens the stack accepts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shared.auth.kinds import ACCESS_TOKEN
from shared.auth.tokens import verify_claims
from shared.keys import Keyring


def lupa(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lupa", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["token", "--help"],
        ["token", "issue", "--help"],
        ["run", "--help"],
        ["migrate", "--help"],
        ["serve", "--help"],
    ],
)
def test_every_command_has_help(args):
    result = lupa(*args)
    assert result.returncode == 0 and "usage: lupa" in result.stdout


def test_token_issue_prints_a_token_signed_by_the_keyring(tmp_path, monkeypatch):
    import os

    env = {**os.environ, "LUPA_KEYS_FILE": str(tmp_path / "keyring.json")}
    result = lupa(
        "token", "issue", "--role", "portal", "--subject", "cust-42", "--ttl", "15m", env=env
    )
    assert result.returncode == 0, result.stderr
    keyring = Keyring.from_json((tmp_path / "keyring.json").read_text())
    claims = verify_claims(keyring, result.stdout.strip(), ACCESS_TOKEN)
    assert claims["role"] == "portal" and claims["sub"] == "cust-42"
    assert claims["exp"] - claims["iat"] == 900
    assert (tmp_path / "keyring.json").stat().st_mode & 0o077 == 0, "keyring must be private"


@pytest.mark.parametrize(
    ("args", "seconds"),
    [
        (["--role", "admin"], 3600),
        (["--role", "officer"], 8 * 3600),
        (["--role", "cx"], 8 * 3600),
        (["--role", "marketing"], 30 * 86400),
        (["--role", "portal"], 30 * 86400),
        (["--role", "portal", "--subject", "cust-42"], 900),
        (["--role", "admin", "--ttl", "24h"], 86400),
    ],
)
def test_each_role_gets_its_own_default_lifetime(tmp_path, args, seconds):
    import os

    env = {**os.environ, "LUPA_KEYS_FILE": str(tmp_path / "keyring.json")}
    result = lupa("token", "issue", *args, env=env)
    assert result.returncode == 0, result.stderr
    keyring = Keyring.from_json((tmp_path / "keyring.json").read_text())
    claims = verify_claims(keyring, result.stdout.strip(), ACCESS_TOKEN)
    assert claims["exp"] - claims["iat"] == seconds


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "admin", "--ttl", "25h"], "longer than the 1d allowed for 'admin' tokens"),
        (
            ["--role", "portal", "--subject", "c-1", "--ttl", "2d"],
            "longer than the 1d allowed for 'portal --subject' tokens",
        ),
        (["--role", "marketing", "--ttl", "91d"], "longer than the 90d allowed"),
    ],
)
def test_a_lifetime_over_the_role_maximum_is_refused_with_no_token(tmp_path, args, message):
    import os

    env = {**os.environ, "LUPA_KEYS_FILE": str(tmp_path / "keyring.json")}
    result = lupa("token", "issue", *args, env=env)
    assert result.returncode != 0
    assert message in result.stderr and result.stdout == ""


def test_unknown_role_is_refused():
    result = lupa("token", "issue", "--role", "root")
    assert result.returncode != 0 and "invalid choice" in result.stderr


def test_serve_offers_only_registered_services():
    from lupa import registry

    result = lupa("serve", "--help")
    assert result.returncode == 0
    assert "{consent,dsar}" in result.stdout
    assert registry.names() == ("consent", "dsar")


def test_serve_of_an_unregistered_service_is_a_usage_error():
    result = lupa("serve", "billing")
    assert result.returncode == 2, "argparse's usage error, not an import traceback"
    assert "invalid choice: 'billing'" in result.stderr and "Traceback" not in result.stderr
