"""``lupa consents expire``: write expiry events for grants past their purpose's validity.

Reads already count such grants as expired; this only makes the history show it.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import Any

from shared.audit.outbox import audited_sessions
from shared.cli.database import database_url
from shared.db.engine import create_engine
from shared.keys import load_keyring
from shared.settings import DatabaseSettings, HttpSettings, keys_path, sqlalchemy_url

_PURPOSE_KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def register(commands: Any) -> None:
    consents = commands.add_parser(
        "consents", help="consent ledger jobs", description="Jobs on the consent ledger."
    )
    sub = consents.add_subparsers(dest="consents_command", required=True, metavar="COMMAND")
    expire = sub.add_parser(
        "expire",
        help="record expiry events for consents past their validity period",
        description="Append an 'expire' ledger event (with receipt and audit event) for every "
        "granted consent whose purpose validity has run out. Safe to run any time, "
        "any number of times: each lapsed grant is recorded once.",
    )
    expire.add_argument("--purpose", type=_purpose_key, help="only this purpose")
    expire.set_defaults(handler=expire_consents)


def expire_consents(args: argparse.Namespace) -> int:
    from services.consent.service.expiry import expire_due
    from services.consent.service.receipts import LedgerContext

    keyring = load_keyring(keys_path())
    context = LedgerContext.from_settings(HttpSettings.from_env("consent").public_base_url)

    async def run(url: str) -> int:
        engine = create_engine(DatabaseSettings(url=sqlalchemy_url(url), pool_size=2))
        try:
            return await expire_due(
                audited_sessions(engine), keyring, context, purpose_key=args.purpose
            )
        finally:
            await engine.dispose()

    with database_url() as url:
        recorded = asyncio.run(run(url))
    print(f"recorded {recorded} expiry event(s)")
    return 0


def _purpose_key(text: str) -> str:
    if not _PURPOSE_KEY.match(text):
        raise argparse.ArgumentTypeError(f"not a purpose key: {text!r}")
    return text
