"""The consent service's commands in ``lupa``: ``consents expire``, ``link unsubscribe``,
``link preferences`` and ``link suppression-key``. Heavy imports wait until a command runs."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from services.consent.domain.vocabulary import CHANNELS, PURPOSE_KEY
from services.consent.settings import DEFAULT_PORT, SERVICE, ConsentSettings
from shared.cli_args import positive_int
from shared.db.location import database_url
from shared.keys import b64u, load_keyring
from shared.settings import HttpSettings, keys_path


def register(commands: Any) -> None:
    _register_consents(commands)
    _register_links(commands)


def _register_consents(commands: Any) -> None:
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
    expire.add_argument(
        "--batch-size",
        type=positive_int,
        default=200,
        help="grants listed per page (default 200); each is recorded in its own transaction",
    )
    expire.set_defaults(handler=expire_consents)


def _register_links(commands: Any) -> None:
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
    preferences = sub.add_parser(
        "preferences",
        help="print a signed link to a subject's preference centre (valid 30 days)",
        description="Print <public url>/preferences?token=...: opening it signs the customer "
        "in to their preference centre.",
    )
    preferences.add_argument("--subject", required=True, help="the subject's external id")
    preferences.set_defaults(handler=print_preference_link)
    key = sub.add_parser(
        "suppression-key", help="print the HMAC key senders use to hash addresses (base64url)"
    )
    key.set_defaults(handler=print_suppression_key)


def _public_base_url() -> str:
    return HttpSettings.from_env(SERVICE, default_port=DEFAULT_PORT).public_base_url


def expire_consents(args: argparse.Namespace) -> int:
    from services.consent.service.expiry import expire_due
    from services.consent.service.receipts import LedgerContext
    from shared.audit.outbox import audited_sessions
    from shared.db.engine import create_engine
    from shared.progress import progress
    from shared.settings import DatabaseSettings, sqlalchemy_url

    keyring = load_keyring(keys_path())
    context = LedgerContext.from_settings(_public_base_url(), ConsentSettings.from_env().controller)

    async def run(url: str) -> int:
        engine = create_engine(DatabaseSettings(url=sqlalchemy_url(url), pool_size=2))
        try:
            return await expire_due(
                audited_sessions(engine),
                keyring,
                context,
                purpose_key=args.purpose,
                batch_size=args.batch_size,
                progress=progress,
            )
        finally:
            await engine.dispose()

    with database_url() as url:
        recorded = asyncio.run(run(url))
    print(f"recorded {recorded} expiry event(s)")
    return 0


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
    print(link_url(_public_base_url(), token))
    return 0


def print_preference_link(args: argparse.Namespace) -> int:
    from services.consent.service.preference_links import mint_link

    with database_url() as url:
        subject_id, _ = asyncio.run(_link_facts(url, args.subject, "-"))
    if subject_id is None:
        raise SystemExit("no such subject (or it was erased)")
    print(mint_link(load_keyring(keys_path()), _public_base_url(), args.subject).url)
    return 0


def print_suppression_key(_: argparse.Namespace) -> int:
    print(b64u(load_keyring(keys_path()).suppression_key))
    return 0


async def _link_facts(url: str, external_id: str, purpose: str) -> tuple[Any, list[str] | None]:
    """The live subject's internal id and the purpose's channels (``None`` where unknown)."""
    from services.consent.db import purposes as purpose_repo
    from services.consent.db.unsubscribe import live_subject_ids
    from shared.db.engine import create_engine, create_session_factory
    from shared.settings import DatabaseSettings, sqlalchemy_url

    engine = create_engine(DatabaseSettings(url=sqlalchemy_url(url), pool_size=1))
    try:
        async with create_session_factory(engine)() as session:
            known = await live_subject_ids(session, [external_id])
            terms = await purpose_repo.get(session, purpose)
    finally:
        await engine.dispose()
    return known.get(external_id), (list(terms.channels) if terms else None)


def _purpose_key(text: str) -> str:
    if not PURPOSE_KEY.match(text):
        raise argparse.ArgumentTypeError(f"not a purpose key: {text!r}")
    return text
