"""``lupa audit verify`` (check the hash chains), ``lupa audit checkpoints`` (export the signed
checkpoints, to keep elsewhere) and ``lupa relay`` (deliver the chains to sinks)."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path
from typing import Any

from lupa import registry
from lupa.cli.production import refuse_insecure
from shared.db.engine import create_engine
from shared.db.location import database_url
from shared.keys import load_keyring
from shared.settings import (
    AuditSettings,
    DatabaseSettings,
    keys_path,
    log_json_from_env,
    sqlalchemy_url,
)

ONE_SERVICE = "only this service (default: all)"


def register(commands: Any) -> None:
    audit = commands.add_parser("audit", help="check the audit trail")
    sub = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    verify = sub.add_parser(
        "verify",
        help="recompute the hash chains and check signed checkpoints",
        description="Exit 0 when every chain is intact; otherwise print the "
        "first bad event and exit 1.",
    )
    verify.add_argument(
        "--service", choices=registry.names(), help="only this service (default: all)"
    )
    verify.add_argument(
        "--checkpoints",
        type=Path,
        metavar="FILE",
        help="also check against checkpoints kept outside the database (JSON lines, as "
        "`lupa audit checkpoints`, GET /v1/audit/checkpoints or NATS hand them out)",
    )
    verify.add_argument(
        "--after",
        type=int,
        default=0,
        metavar="SEQUENCE",
        help="with --service: start after this sequence, which a signed checkpoint must cover "
        "(an interrupted run prints the one to continue from); the events up to it are not "
        "checked again",
    )
    verify.set_defaults(handler=verify_chains)
    export = sub.add_parser(
        "checkpoints",
        help="print the signed checkpoints as JSON lines, to keep outside the database",
    )
    export.add_argument(
        "--service", choices=registry.names(), help="only this service (default: all)"
    )
    export.add_argument("--after", type=int, default=0, help="only sequences after this one")
    export.set_defaults(handler=export_checkpoints)
    relay = commands.add_parser(
        "relay", help="chain audit events and deliver them to NATS/webhooks"
    )
    relay.add_argument(
        "--service", choices=registry.names(), help="only this service (default: all)"
    )
    relay.add_argument("--once", action="store_true", help="deliver what is pending, then exit")
    relay.set_defaults(handler=run_relay)


def _services(args: argparse.Namespace) -> tuple[str, ...]:
    return (args.service,) if args.service else registry.names()


def _read_kept(path: Path | None) -> list[dict[str, Any]]:
    """One JSON object per non-empty line; a line that is not one stops the run."""
    if path is None:
        return []
    kept = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            raise SystemExit(f"{path}:{number}: not a JSON line") from None
        if not isinstance(item, dict):
            raise SystemExit(f"{path}:{number}: not a checkpoint object")
        kept.append(item)
    return kept


def verify_chains(args: argparse.Namespace) -> int:
    if args.after and not args.service:
        raise SystemExit("--after needs --service: sequences are per service")
    if args.after < 0:
        raise SystemExit("--after takes a sequence (0 or more)")
    kept = _read_kept(args.checkpoints)
    with database_url() as url:
        return asyncio.run(_verify(url, _services(args), kept, args.after))


def _engine(url: str) -> Any:
    return create_engine(
        DatabaseSettings(url=sqlalchemy_url(url), pool_size=1, statement_timeout_ms=60_000)
    )


async def _verify(
    url: str, services: tuple[str, ...], kept: list[dict[str, Any]], after: int = 0
) -> int:
    from shared.audit.verify import NoCheckpoint, chain_head, resume_hint, verify_chain
    from shared.progress import progress

    keyring = load_keyring(keys_path())
    engine = _engine(url)
    failed = False
    try:
        for service in services:
            # Reading only: an interruption rolls back a read-only snapshot and changes nothing.
            resume = resume_hint(service, after) if after else "run it again to start over"
            if len(services) > 1:
                resume += " (the services after it were not verified)"
            async with engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="REPEATABLE READ")
                async with conn.begin():
                    total = max(await chain_head(conn, service) - after, 0)
                    with progress(f"verifying {service}", total, resume=resume) as bar:
                        try:
                            report = await verify_chain(
                                conn, service, keyring, kept, start=after, bar=bar
                            )
                        except NoCheckpoint as exc:
                            raise SystemExit(
                                f"{exc}; --after takes the sequence of a signed checkpoint "
                                "(`lupa audit checkpoints` lists them)"
                            ) from None
            if report.finding is not None:
                failed = True
                print(f"TAMPERED {report.finding}")
            else:
                since = f" (sequences {after + 1} to {report.events})" if after else ""
                print(
                    f"ok {service}: {report.events} events{since}, {report.checkpoints} signed "
                    f"checkpoints, {report.kept} kept checkpoints matched, "
                    f"{report.pending} not yet chained"
                )
    finally:
        await engine.dispose()
    return 1 if failed else 0


def export_checkpoints(args: argparse.Namespace) -> int:
    with database_url() as url:
        asyncio.run(_export(url, _services(args), args.after))
    return 0


async def _export(url: str, services: tuple[str, ...], after: int) -> None:
    from shared.audit.checkpoints import checkpoints_after

    engine = _engine(url)
    try:
        async with engine.connect() as conn:
            for service in services:
                cursor = after
                while page := await checkpoints_after(conn, service, cursor, 1000):
                    for checkpoint in page:
                        print(json.dumps(checkpoint, separators=(",", ":")))
                    cursor = page[-1]["sequence"]
    finally:
        await engine.dispose()


def run_relay(args: argparse.Namespace) -> int:
    refuse_insecure()  # the relay signs checkpoints: the keys must be production's
    with database_url() as url:
        asyncio.run(_relay(url, _services(args), args.once))
    return 0


async def _relay(url: str, services: tuple[str, ...], once: bool) -> None:
    from shared.audit.relay import Relay
    from shared.logging import configure_logging

    configure_logging(json=log_json_from_env(), level="INFO")
    engine = create_engine(
        DatabaseSettings(url=sqlalchemy_url(url), pool_size=2 + 2 * len(services))
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await Relay(engine, load_keyring(keys_path()), AuditSettings.from_env(), services).run(
            stop, once=once
        )
    finally:
        await engine.dispose()
