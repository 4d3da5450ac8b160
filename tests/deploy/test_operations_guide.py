"""The connector step of docs/operations.md ("Docker Compose", "Deploying on Kubernetes"),
run as the guide says: its script, taken from the page, against a real ``lupa serve dsar``."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.audit.webhooks import new_secret
from shared.auth.tokens import issue_access_token
from shared.keys import Keyring
from tests.conftest import migrated_database

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "operations.md"


def guide_script() -> str:
    """The first Python block of the guide's "Docker Compose" section."""
    section = GUIDE.read_text().split("## Docker Compose", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "docs/operations.md has no Python block under 'Docker Compose'"
    return "\n".join(line[3:] if line.startswith("   ") else line for line in match[1].splitlines())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@pytest.fixture
async def dsar_service(server_dsn: str) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A ``lupa serve dsar`` process on its own port and database; its URL and environment."""
    async with migrated_database(server_dsn, "lupa_guide") as url:
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "LUPA_DSAR_PORT": str(port),
            "LUPA_KEYRING": Keyring.generate().to_json(),
            "LUPA_CONSENT_CONNECTOR_SECRET": new_secret(),
            "LUPA_DSAR_URL": f"http://127.0.0.1:{port}",
        }
        child = subprocess.Popen(  # noqa: ASYNC220 (started once, waited on below)
            [sys.executable, "-m", "lupa", "serve", "dsar"], env=env, cwd=REPO
        )
        try:
            ready = f"http://127.0.0.1:{port}/health/ready"
            for _ in range(300):  # bounded start-up wait, not a timing assertion
                if child.poll() is not None or await asyncio.to_thread(answers, ready):
                    break
                await asyncio.sleep(0.2)
            assert child.poll() is None and answers(ready), "lupa serve dsar did not start"
            yield env["LUPA_DSAR_URL"], env
        finally:
            child.terminate()
            await asyncio.to_thread(child.wait, 30)


def fetch_json(request: urllib.request.Request) -> dict[str, object]:
    with urllib.request.urlopen(request, timeout=10) as resp:
        found: dict[str, object] = json.load(resp)
    return found


def run_guide_script(env: dict[str, str], consent_url: str) -> str:
    done = subprocess.run(
        [sys.executable, "-", consent_url],
        input=guide_script(),
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


async def test_the_guides_connector_script_registers_the_consent_service_once(
    dsar_service: tuple[str, dict[str, str]],
) -> None:
    dsar_url, env = dsar_service
    first = await asyncio.to_thread(run_guide_script, env, "http://consent:8000")
    assert first == "consent connector registered: 201"
    again = await asyncio.to_thread(run_guide_script, env, "http://consent:8000")
    assert again == "consent connector registered: 200"
    token = issue_access_token(Keyring.from_json(env["LUPA_KEYRING"]), "admin", None, 60)
    get = urllib.request.Request(
        f"{dsar_url}/v1/connectors/consent", headers={"Authorization": f"Bearer {token}"}
    )
    connector = await asyncio.to_thread(fetch_json, get)
    assert connector["url"] == "http://consent:8000/v1/connector"
    assert isinstance(connector["actions"], list)
    assert set(connector["actions"]) == {
        "access",
        "erasure",
        "rectification",
        "restriction",
        "lift_restriction",
        "objection",
    }
