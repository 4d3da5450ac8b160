"""Screenshots of the web pages for the docs: ``python -m tests.e2e.pages.screenshots``.

Starts ``lupa run`` on a fresh database (on the server of ``DATABASE_URL``, else
``TEST_DATABASE_URL``, else the embedded PostgreSQL), seeds a few purposes, subjects,
consents and DSAR requests through the APIs, and saves PNGs with Debian's Chromium:

- ``docs/img/preference-centre.png``: a subject's preference centre, through the link
  ``lupa link preferences`` prints (skipped, with a message, where that command does not exist);
- ``docs/img/console.png``: the officer console's inbox, signed in (skipped where the DSAR
  service has no ``/console``);
- ``docs/img/cx-dashboard.png``: the CX dashboard, signed in with a cx token.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.settings import asyncpg_dsn
from tests.conftest import REPO, _server_dsn, migrated_database
from tests.e2e.pages.conftest import CHROMIUM, FLAGS, Stack
from tests.e2e.pages.cx_seed import withdraw_with_reason
from tests.e2e.test_stack import _free_port, _start, _stop, _wait_for_banner

IMAGES = REPO / "docs" / "img"
VIEWPORT: Any = {"width": 1200, "height": 900}


@contextmanager
def server() -> Iterator[str]:
    if os.environ.get("DATABASE_URL"):
        yield asyncpg_dsn(os.environ["DATABASE_URL"])
    else:
        yield from _server_dsn()


@contextmanager
def running_stack(server_dsn: str) -> Iterator[Stack]:
    """``lupa run`` on a fresh database, as the browser tests' ``stack`` fixture starts it."""
    loop = asyncio.new_event_loop()
    database = migrated_database(server_dsn, "lupa_shots")
    url = loop.run_until_complete(database.__aenter__())
    with tempfile.TemporaryDirectory(prefix="lupa-shots-") as home:
        consent_port, dsar_port = _free_port(), _free_port()
        env = {**os.environ, "DATABASE_URL": url, "LUPA_HOME": home}
        env.update(
            LUPA_CONSENT_PORT=str(consent_port),
            LUPA_DSAR_PORT=str(dsar_port),
            LUPA_CONSENT_PUBLIC_URL=f"http://127.0.0.1:{consent_port}",
            LUPA_DSAR_PUBLIC_URL=f"http://127.0.0.1:{dsar_port}",
        )
        env.pop("LUPA_SMTP_URL", None)
        proc = _start(env)
        try:
            _wait_for_banner(proc)
            yield Stack(
                f"http://127.0.0.1:{consent_port}",
                f"http://127.0.0.1:{dsar_port}",
                env,
                Path(home),
            )
        finally:
            _stop(proc)
            loop.run_until_complete(database.__aexit__(None, None, None))
            loop.close()


def seed(stack: Stack) -> list[str]:
    """A few customers with consents, one withdrawal with its reason, and DSAR requests; the
    customers' ids."""
    customers = [f"cust-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    withdraw_with_reason(stack, "newsletter", customers[0], "too_many", "Liian monta viestiä")
    admin = stack.token("admin")
    stack.call(
        stack.consent,
        "PUT",
        "/v1/purposes/offers",
        admin,
        {
            "legal_basis": "consent",
            "title": {"en": "Offers", "fi": "Tarjoukset", "sv": "Erbjudanden"},
            "channels": ["email", "sms"],
        },
    )
    for customer in customers[1:]:
        stack.call(
            stack.consent,
            "PUT",
            f"/v1/subjects/{customer}",
            admin,
            {"email": f"{customer}@example.com", "locale": "fi"},
        )
        for purpose, channel in (("newsletter", "email"), ("offers", "sms")):
            stack.call(
                stack.consent,
                "POST",
                f"/v1/subjects/{customer}/consents",
                admin,
                {"purpose": purpose, "channel": channel, "action": "grant"},
            )
    for customer, kind in zip(customers, ("access", "erasure", "portability"), strict=True):
        stack.call(
            stack.dsar, "POST", "/v1/requests", stack.token("portal", customer), {"type": kind}
        )
    return customers


def sign_in(page: Any, base: str, path: str, token: str) -> bool:
    """Sign in on ``path``/sign-in with ``token``; False when the page does not exist."""
    response = page.goto(f"{base}{path}/sign-in?lang=en")
    if response is None or response.status == 404:
        return False
    page.fill("input[name=token]", token)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}{path}*")
    return True


def preference_link(stack: Stack, customer: str) -> str | None:
    command = [sys.executable, "-m", "lupa", "link", "preferences", "--subject", customer]
    done = subprocess.run(command, env=stack.env, capture_output=True, text=True)
    if done.returncode != 0:
        return None
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else None


def main() -> int:
    from playwright.sync_api import sync_playwright

    IMAGES.mkdir(parents=True, exist_ok=True)
    with server() as dsn, running_stack(dsn) as stack:
        customers = seed(stack)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                shots: dict[str, Callable[[Any], bool]] = {
                    "preference-centre.png": lambda page: preference_page(
                        stack, page, customers[1]
                    ),
                    "console.png": lambda page: sign_in(
                        page, stack.dsar, "/console", stack.token("officer")
                    ),
                    "cx-dashboard.png": lambda page: sign_in(
                        page, stack.consent, "/cx", stack.token("cx")
                    ),
                }
                for name, open_page in shots.items():
                    context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
                    page = context.new_page()
                    if open_page(page):
                        page.screenshot(path=str(IMAGES / name), full_page=True)
                        print(f"saved docs/img/{name}")
                    else:
                        print(f"skipped docs/img/{name}: its page is not in this build")
                    context.close()
            finally:
                browser.close()
    return 0


def preference_page(stack: Stack, page: Any, customer: str) -> bool:
    link = preference_link(stack, customer)
    if link is None:
        print("`lupa link preferences` is not available: no preference centre screenshot")
        return False
    response = page.goto(link)
    return response is not None and response.ok


if __name__ == "__main__":
    raise SystemExit(main())
