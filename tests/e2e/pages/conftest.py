"""Browser tests of the web pages: the stack as ``lupa run`` starts it (both services, the
relay, the DSAR worker) on a fresh database, and Debian's Chromium driven by Playwright.

Without Chromium the tests fail, and say why: ``make test`` installs it with apt-get.
A failing test leaves a screenshot of its page in ``tests/e2e/artifacts/``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import migrated_database
from tests.e2e.test_stack import _free_port, _start, _stop, _wait_for_banner

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

pytestmark = pytest.mark.slow


@dataclass
class Stack:
    consent: str  # base URLs
    dsar: str
    env: dict[str, str]
    home: Path

    def token(self, role: str, subject: str | None = None) -> str:
        command = [sys.executable, "-m", "lupa", "token", "issue", "--role", role]
        command += ["--subject", subject] if subject else []
        done = subprocess.run(command, env=self.env, check=True, capture_output=True, text=True)
        return done.stdout.strip()

    def call(
        self, base: str, method: str, path: str, token: str | None, body: Any = None
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(
            base + path,
            method=method,
            headers=headers,
            data=json.dumps(body).encode() if body is not None else None,
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw and "json" in resp.headers.get(
                    "content-type", ""
                ) else raw
        except urllib.error.HTTPError as err:
            return err.code, err.read()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, server_dsn: str) -> Iterator[Stack]:
    """One ``lupa run`` for every browser test of the run."""
    loop = asyncio.new_event_loop()
    database = migrated_database(server_dsn, "lupa_pages")
    url = loop.run_until_complete(database.__aenter__())
    home = tmp_path_factory.mktemp("pages-home")
    consent_port, dsar_port = _free_port(), _free_port()
    env = {**os.environ, "DATABASE_URL": url, "LUPA_HOME": str(home)}
    env.update(
        LUPA_CONSENT_PORT=str(consent_port),
        LUPA_DSAR_PORT=str(dsar_port),
        LUPA_CONSENT_PUBLIC_URL=f"http://127.0.0.1:{consent_port}",
        LUPA_DSAR_PUBLIC_URL=f"http://127.0.0.1:{dsar_port}",
        LUPA_DSAR_JOB_POLL_S="1",
    )
    env.pop("LUPA_SMTP_URL", None)
    proc = _start(env)
    try:
        _wait_for_banner(proc)
        yield Stack(f"http://127.0.0.1:{consent_port}", f"http://127.0.0.1:{dsar_port}", env, home)
    finally:
        _stop(proc)
        loop.run_until_complete(database.__aexit__(None, None, None))
        loop.close()


# Per module, not per session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and the async tests collected after the browser tests need the thread free.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(
            f"Chromium is not installed ({CHROMIUM}): `make test` installs Debian's chromium "
            "with apt-get; without it the browser tests cannot run",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (no cookies) at a phone-sized or desktop viewport; on failure
    its screenshot goes to tests/e2e/artifacts/<test>.png."""
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="en-GB")
    tab = context.new_page()
    try:
        yield tab
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = request.node.name.replace("/", "_").replace("[", "_").replace("]", "")
            tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        context.close()


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
