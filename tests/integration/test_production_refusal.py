"""``LUPA_ENV=production`` refuses insecure settings before serving: the process exits with
78 (EX_CONFIG) and one line per setting to change; a sound production configuration starts.
Each refusal comes before the process binds a port or touches the database."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from shared.keys import Keyring, save_keyring

PREFIX = "lupa: refusing to start in production: "


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "prod-keys" / "keyring.json"
    path.parent.mkdir()
    save_keyring(path, Keyring.generate())
    return path


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUPA_")}
    env.update(
        {
            "LUPA_ENV": "production",
            "LUPA_HOME": str(tmp_path / "home"),
            "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",  # a refusal never gets there
            "LUPA_CONSENT_PUBLIC_URL": "https://consent.example.com",
            "LUPA_DSAR_PUBLIC_URL": "https://dsar.example.com",
            **settings,
        }
    )
    return env


def _refusal(command: list[str], env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "lupa", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 78, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith(PREFIX) for line in lines), done.stderr
    return [line.removeprefix(PREFIX) for line in lines]


def test_the_development_keyring_is_refused_and_none_is_created(tmp_path: Path) -> None:
    [problem] = _refusal(["serve", "consent"], _env(tmp_path))
    assert problem.startswith("LUPA_KEYS_FILE is not set")
    assert not (tmp_path / "home" / "keys").exists()


def test_a_keys_file_that_does_not_exist_is_refused_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "keyring.json"
    [problem] = _refusal(["serve", "dsar"], _env(tmp_path, LUPA_KEYS_FILE=str(missing)))
    assert problem.startswith("LUPA_KEYS_FILE names no file")
    assert not missing.exists()


def test_a_keyring_without_a_key_encryption_key_is_refused(tmp_path: Path) -> None:
    doc = json.loads(Keyring.generate().to_json())
    doc["kek"], doc["active_kek"] = {}, ""
    [problem] = _refusal(["serve", "consent"], _env(tmp_path, LUPA_KEYRING=json.dumps(doc)))
    assert (
        problem
        == "LUPA_KEYRING has no key-encryption key (kek): subjects' data keys cannot be wrapped"
    )


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        (
            "LUPA_CONSENT_PUBLIC_URL",
            "http://consent.example.com",
            "LUPA_CONSENT_PUBLIC_URL is http://consent.example.com (use https://)",
        ),
        ("LUPA_DEBUG", "1", "LUPA_DEBUG is on"),
        ("LUPA_LOG_LEVEL", "debug", "LUPA_LOG_LEVEL is DEBUG"),
    ],
)
def test_each_insecure_setting_is_named(
    tmp_path: Path, keys_file: Path, setting: str, value: str, named: str
) -> None:
    env = _env(tmp_path, LUPA_KEYS_FILE=str(keys_file), **{setting: value})
    [problem] = _refusal(["serve", "consent"], env)
    assert problem.startswith(named)


def test_the_relay_and_the_worker_check_their_keys_and_links(
    tmp_path: Path, keys_file: Path
) -> None:
    [relay] = _refusal(["relay", "--once"], _env(tmp_path))
    assert relay.startswith("LUPA_KEYS_FILE is not set")
    plain = _env(
        tmp_path, LUPA_KEYS_FILE=str(keys_file), LUPA_DSAR_PUBLIC_URL="http://10.1.2.3:8001"
    )
    [worker] = _refusal(["worker"], plain)
    assert worker == "LUPA_DSAR_PUBLIC_URL is http://10.1.2.3:8001 (use https://)"


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    env = _env(tmp_path, LUPA_DEBUG="true", LUPA_CONSENT_PUBLIC_URL="http://consent.example.com")
    problems = _refusal(["serve", "consent"], env)
    assert [p.split(" ")[0] for p in problems] == [
        "LUPA_KEYS_FILE",
        "LUPA_DEBUG",
        "LUPA_CONSENT_PUBLIC_URL",
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_sound_production_configuration_starts(
    tmp_path: Path, keys_file: Path, database_url: str
) -> None:
    port = _free_port()
    env = _env(
        tmp_path,
        LUPA_KEYS_FILE=str(keys_file),
        LUPA_CONSENT_PORT=str(port),
        LUPA_LOG_LEVEL="WARNING",
    )
    env["DATABASE_URL"] = database_url
    server = subprocess.Popen(
        [sys.executable, "-m", "lupa", "serve", "consent"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with _wait_for(f"http://127.0.0.1:{port}/health/live", server) as answer:
            assert answer.status == 200
            # its public URL is https (TLS ends at a proxy): every answer asks for HTTPS
            assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_for(url: str, server: subprocess.Popen[bytes]) -> Any:
    for _ in range(300):  # bounded: 300 tries a tenth of a second apart
        if server.poll() is not None:
            pytest.fail(
                f"the server exited: {server.stderr.read().decode() if server.stderr else ''}"
            )
        try:
            return urllib.request.urlopen(url, timeout=2)
        except OSError:
            time.sleep(0.1)
    pytest.fail("the server did not answer")
