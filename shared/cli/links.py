"""``lupa link unsubscribe``: print a one-click unsubscribe URL for one subject.

``lupa link suppression-key`` prints the key senders use to hash their own address lists
(docs/check-api.md, suppression export).
"""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import Any

import asyncpg

from shared.cli.database import database_url
from shared.keys import b64u, load_keyring
from shared.settings import HttpSettings, asyncpg_dsn, keys_path

CHANNELS = ("email", "sms", "phone", "post", "push")
PURPOSE_KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def register(commands: Any) -> None:
    link = commands.add_parser("link", help="signed links for senders")
    sub = link.add_subparsers(dest="link_command", required=True, metavar="COMMAND")
    unsubscribe = sub.add_parser(
        "unsubscribe",
        help="print a one-click unsubscribe URL (RFC 8058)",
        description="Print a signed URL for List-Unsubscribe; a POST with "
        "List-Unsubscribe=One-Click withdraws the consent at once.",
    )
    unsubscribe.add_argument("--subject", required=True, help="the subject's external id")
    unsubscribe.add_argument("--purpose", required=True, help="purpose key")
    unsubscribe.add_argument("--channel", required=True, choices=CHANNELS)
    unsubscribe.set_defaults(handler=print_unsubscribe_link)
    key = sub.add_parser(
        "suppression-key", help="print the HMAC key senders use to hash addresses (base64url)"
    )
    key.set_defaults(handler=print_suppression_key)


def print_unsubscribe_link(args: argparse.Namespace) -> int:
    from services.consent.service.unsubscribe import (
        UnsubscribeLink,
        ensure_linkable,
        link_url,
        mint_token,
    )
    from shared.errors import LupaError

    if not PURPOSE_KEY.match(args.purpose):
        raise SystemExit("--purpose is not a valid purpose key")
    with database_url() as url:
        subject_id, channels = asyncio.run(_link_facts(url, args.subject, args.purpose))
    try:
        ensure_linkable(args.purpose, args.channel, channels)  # the same rule as the API's
    except LupaError as exc:
        raise SystemExit(exc.detail) from None
    if subject_id is None:
        raise SystemExit("no such subject (or it was erased)")
    token = mint_token(
        load_keyring(keys_path()), UnsubscribeLink(subject_id, args.purpose, args.channel)
    )
    print(link_url(HttpSettings.from_env("consent").public_base_url, token))
    return 0


def print_suppression_key(_: argparse.Namespace) -> int:
    print(b64u(load_keyring(keys_path()).suppression_key))
    return 0


async def _link_facts(url: str, external_id: str, purpose: str) -> tuple[Any, list[str] | None]:
    """The live subject's internal id and the purpose's channels (``None`` where unknown)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        subject_id = await conn.fetchval(
            "SELECT id FROM subjects WHERE external_id = $1 AND erased_at IS NULL", external_id
        )
        channels = await conn.fetchval("SELECT channels FROM purposes WHERE key = $1", purpose)
    finally:
        await conn.close()
    return subject_id, channels
