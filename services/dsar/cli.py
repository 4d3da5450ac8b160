"""The DSAR service's commands in ``lupa``: ``connector test`` and ``jobs retry``. Heavy imports
wait until a command runs."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from services.dsar.domain.connectors import check_url
from shared.cli_args import positive_int
from shared.errors import InvalidInput


def register(commands: Any) -> None:
    _register_connector(commands)
    _register_jobs(commands)


def _register_jobs(commands: Any) -> None:
    jobs = commands.add_parser(
        "jobs", help="the DSAR connector job queue", description="Jobs on the DSAR job queue."
    )
    sub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="COMMAND")
    retry = sub.add_parser(
        "retry",
        help="queue every failed connector job again (as POST /v1/jobs/retry), in batches",
        description="Move every failed job back to 'queued' (attempts and last error kept), "
        "each with a job.retry_requested audit event, one committed batch at a time. "
        "Interrupted, it keeps what it committed; run it again for the rest. Exit 1 when "
        "some failed jobs remain (held by another transaction, or failed again meanwhile).",
    )
    retry.add_argument("--connector", help="only jobs at this connector (its name)")
    retry.add_argument(
        "--batch-size", type=positive_int, default=500, help="jobs per transaction (default 500)"
    )
    retry.set_defaults(handler=retry_jobs)


def _register_connector(commands: Any) -> None:
    connector = commands.add_parser(
        "connector",
        help="work with DSAR connectors",
        description="Commands for systems that answer Lupa's connector protocol.",
    )
    sub = connector.add_subparsers(dest="connector_command", required=True, metavar="COMMAND")
    test = sub.add_parser(
        "test",
        help="drive a connector through every action of the protocol and report",
        description="Send signed jobs for a made-up person (every action, each twice, a "
        "badly signed one, a stale one) and print one PASS/WARN/FAIL line per check. Exit "
        "status: 0 when every check passed, 1 when one failed, 2 when some only warned.",
    )
    test.add_argument("url", type=_url, help="the connector's URL (http or https)")
    test.add_argument("--secret", required=True, help="its secret, whsec_ + base64")
    test.add_argument(
        "--callback-host",
        default="127.0.0.1",
        help="the address the connector reaches this tool on for 202 callbacks (default 127.0.0.1)",
    )
    test.add_argument(
        "--timeout", type=_seconds, default=10.0, help="seconds per answer (default 10)"
    )
    test.add_argument(
        "--external-id",
        help="a test person the connector holds (default: a made-up one it does not know); "
        "the run ends with an erasure of that person",
    )
    test.set_defaults(handler=test_connector)


def test_connector(args: argparse.Namespace) -> int:
    from services.dsar.conformance import ConformanceOptions, run_conformance
    from shared.audit.webhooks import is_standard_secret

    if not is_standard_secret(args.secret):
        raise SystemExit("--secret must be whsec_ followed by base64 of at least 24 bytes")
    options = ConformanceOptions(
        url=args.url,
        secret=args.secret,
        callback_host=args.callback_host,
        timeout=args.timeout,
        external_id=args.external_id,
    )
    report = run_conformance(options)
    print(report.render())
    return report.exit_status


def retry_jobs(args: argparse.Namespace) -> int:
    from services.dsar.service.bulk_retry import retry_failed_in_batches
    from shared.audit.outbox import audited_sessions
    from shared.db.engine import create_engine
    from shared.db.location import database_url
    from shared.progress import progress
    from shared.settings import DatabaseSettings, sqlalchemy_url

    async def run(url: str) -> Any:
        engine = create_engine(DatabaseSettings(url=sqlalchemy_url(url), pool_size=2))
        try:
            return await retry_failed_in_batches(
                audited_sessions(engine),
                args.connector,
                batch_size=args.batch_size,
                progress=progress,
            )
        finally:
            await engine.dispose()

    with database_url() as url:
        done = asyncio.run(run(url))
    print(f"queued {done.retried} failed job(s) again")
    if done.remaining:
        print(f"{done.remaining} job(s) are still failed: run `lupa jobs retry` again")
    return 1 if done.remaining else 0


def _url(text: str) -> str:
    try:
        check_url(text)
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(exc.detail) from None
    return text


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError("the timeout must be above 0 and at most 600 seconds")
    return value
