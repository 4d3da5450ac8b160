"""The DSAR service's commands in ``lupa``: ``connector test``. Heavy imports wait until a
command runs."""

from __future__ import annotations

import argparse
from typing import Any

from services.dsar.domain.connectors import check_url
from shared.errors import InvalidInput


def register(commands: Any) -> None:
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
