"""``lupa keys``: show, rotate, rewrap and retire keys; prints ids and counts, never secrets."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.audit.outbox import audited_sessions
from shared.cli_args import positive_int
from shared.db.engine import create_engine
from shared.db.location import database_url
from shared.keys import Keyring, load_keyring, save_keyring
from shared.progress import progress
from shared.settings import DatabaseSettings, keys_path, sqlalchemy_url

T = TypeVar("T")
BATCH_HELP = "data keys per transaction (default 500)"
Job = Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]


def register(commands: Any) -> None:
    keys = commands.add_parser(
        "keys",
        help="show and rotate encryption and signing keys",
        description="Key ids and rotation; key material is never printed.",
    )
    sub = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    show = sub.add_parser("show", help="key ids, the active KEK and how many data keys each wraps")
    show.set_defaults(handler=show_keys)
    rotate = sub.add_parser(
        "rotate",
        help="add a key-encryption key and rewrap every data key and sealed secret to it",
        description="Add a new KEK, save the keyring, then rewrap all data keys in batches "
        "and reseal the webhook and DSAR connector secrets. "
        "Old KEKs stay until `lupa keys retire`.",
    )
    rotate.add_argument(
        "--signing",
        action="store_true",
        help="add an Ed25519 signing key instead (old ones stay in the JWKS)",
    )
    rotate.add_argument(
        "--no-rewrap",
        action="store_true",
        help="only add and save the KEK (rewrap later with `lupa keys rewrap`)",
    )
    rotate.add_argument("--batch-size", type=positive_int, default=500, help=BATCH_HELP)
    rotate.set_defaults(handler=rotate_keys)
    rewrap = sub.add_parser(
        "rewrap", help="rewrap data keys and sealed secrets under old KEKs to the active one"
    )
    rewrap.add_argument("--batch-size", type=positive_int, default=500, help=BATCH_HELP)
    rewrap.set_defaults(handler=rewrap_keys)
    retire = sub.add_parser(
        "retire", help="remove an old KEK; refused while any data key or sealed secret uses it"
    )
    retire.add_argument("kek_id")
    retire.set_defaults(handler=retire_key)


def show_keys(_: argparse.Namespace) -> int:
    from lupa.key_rotation import KeyRotation

    keyring = load_keyring(keys_path())
    usage, secrets, sealed = _with_db(lambda sessions: _usage(KeyRotation(sessions, keyring)))
    print(f"keyring: {'LUPA_KEYRING (environment)' if _from_env() else keys_path()}")
    print(f"active KEK: {keyring.active_kek_id}")
    print("key-encryption keys (data keys wrapped):")
    for kek_id in keyring.keks:
        marker = " (active)" if kek_id == keyring.active_kek_id else ""
        print(f"  {kek_id}: {usage.get(kek_id, 0)}{marker}")
    for kek_id in sorted(set(usage) - set(keyring.keks)):
        print(f"  {kek_id}: {usage[kek_id]} (NOT IN THIS KEYRING: their data cannot be read)")
    print("webhook secrets sealed by each KEK:")
    for kek_id in sorted(set(keyring.keks) | set(secrets)):
        missing = "" if kek_id in keyring.keks else " (NOT IN THIS KEYRING: undeliverable)"
        print(f"  {kek_id}: {secrets.get(kek_id, 0)}{missing}")
    for kind, counts in sealed.items():  # e.g. the DSAR connectors' signing secrets
        print(f"{_label(kind)}s sealed by each KEK:")
        for kek_id in sorted(set(keyring.keks) | set(counts)):
            missing = "" if kek_id in keyring.keks else " (NOT IN THIS KEYRING: unreadable)"
            print(f"  {kek_id}: {counts.get(kek_id, 0)}{missing}")
    print("signing keys (kid, created; the last one signs):")
    for key in keyring.signing:
        print(f"  {key.kid}  {key.created}")
    return 0


async def _usage(
    rotation: Any,
) -> tuple[dict[str, int], dict[str, int], dict[str, dict[str, int]]]:
    return await rotation.usage(), await rotation.secret_usage(), await rotation.sealed_usage()


def _label(kind: str) -> str:
    """``connector_secrets`` -> ``connector secret``."""
    return kind.replace("_", " ").removesuffix("s")


def rotate_keys(args: argparse.Namespace) -> int:
    from lupa import key_rotation

    path, keyring = _writable_keyring()
    save = _saver(path)
    if args.signing:
        rotated = _with_db(lambda s: key_rotation.rotate_signing(s, keyring, save))
        print(f"new signing key {rotated.active_signing.kid} saved to {path}")
        print(
            "services that read this keyring file sign with it and list it in the JWKS from "
            "their next request (no restart); services given LUPA_KEYRING need the file "
            "stored there and a restart"
        )
        return 0
    rotated, report = _with_db(
        lambda s: key_rotation.rotate_kek(
            s,
            keyring,
            save,
            rewrap=not args.no_rewrap,
            batch_size=args.batch_size,
            progress=progress,
        )
    )
    print(f"new key-encryption key {rotated.active_kek_id} saved to {path}")
    return _print_report(report) if report else 0


def rewrap_keys(args: argparse.Namespace) -> int:
    from lupa.key_rotation import KeyRotation

    keyring = load_keyring(keys_path())
    report = _with_db(lambda s: KeyRotation(s, keyring, args.batch_size, progress).rewrap())
    return _print_report(report)


def retire_key(args: argparse.Namespace) -> int:
    from lupa import key_rotation

    path, keyring = _writable_keyring()
    try:
        _with_db(lambda s: key_rotation.retire_kek(s, keyring, args.kek_id, _saver(path)))
    except key_rotation.RotationRefused as refused:
        raise SystemExit(f"refused: {refused}") from None
    print(f"retired {args.kek_id}; restart services still running with the old keyring")
    return 0


def _print_report(report: Any) -> int:
    print(f"rewrapped {report.rewrapped} data key(s) to {report.kek} in {report.batches} batch(es)")
    print(f"resealed {report.secrets_resealed} webhook secret(s) with {report.kek}")
    for kind, count in report.sealed_resealed.items():
        print(f"resealed {count} {_label(kind)}(s) with {report.kek}")
    if report.remaining:
        print(
            f"{report.remaining} data key(s) remain under old KEKs ({report.failed} failed to "
            "unwrap, the rest were busy): run `lupa keys rewrap` again"
        )
    if report.secrets_remaining:
        print(
            f"{report.secrets_remaining} webhook secret(s) remain under old KEKs: run "
            "`lupa keys rewrap` again"
        )
    for kind, count in report.sealed_remaining.items():
        if count:
            print(f"{count} {_label(kind)}(s) remain under old KEKs: run `lupa keys rewrap` again")
    stranded = report.remaining or report.secrets_remaining or any(report.sealed_remaining.values())
    return 1 if stranded else 0


def _writable_keyring() -> tuple[Path, Keyring]:
    if _from_env():
        raise SystemExit(
            "LUPA_KEYRING is set, and rotation must save the keyring: unset it, point "
            "LUPA_KEYS_FILE at a 0600 copy of the secret, rotate with --no-rewrap, store the file "
            "back in the secret store, roll the services, then `lupa keys rewrap`"
        )
    path = keys_path()
    return path, load_keyring(path)


def _saver(path: Path) -> Callable[[Keyring], None]:
    return lambda keyring: save_keyring(path, keyring)


def _from_env() -> bool:
    return bool(os.environ.get("LUPA_KEYRING"))


def _with_db(job: Job[T]) -> T:
    async def run(url: str) -> T:
        engine = create_engine(DatabaseSettings(url=sqlalchemy_url(url), pool_size=2))
        try:
            return await job(audited_sessions(engine))
        finally:
            await engine.dispose()

    with database_url() as url:
        return asyncio.run(run(url))
